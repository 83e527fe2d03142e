#!/usr/bin/env python3
"""PyTorch references for the models the worked examples build (recurrent mnist, forecast, charlm).

Usage (from the repository root)::

    python3 -m pip install -r Tools/requirements.txt
    python3 Tools/make_example_fixtures.py

Each case is a small PyTorch module written the way the tutorials write it, run once on the CPU
with one thread (oneDNN off) under ``torch.manual_seed`` of the CRC-32 of its name. Files go to
``Tests/RecurrentTests/Fixtures/examples/<name>.safetensors`` with:

- ``param.<key>``: the module's ``state_dict`` (the keys Recurrent must infer the model from);
- ``input`` (float32; token indices for the language models), ``targets`` (class indices as
  float32, or regression targets), ``prediction`` (the module's output), ``loss``;
- ``grad.param.<key>`` for every parameter, and ``grad.input`` for feature input.

Metadata: ``batch_first``, ``head_placement`` (``last_step`` / ``every_step``), ``loss``
(``cross_entropy`` / ``mse``) and ``torch_version``.

Cases:

- ``mnist_tutorial``: the tutorial's classifier, ``self.rnn = nn.LSTM(batch_first=True)`` and
  ``self.out = nn.Linear`` on ``r_out[:, -1, :]``, cross-entropy over class indices;
- ``mnist_bigru_2layer``: the same shape with a two-layer bidirectional GRU (the last step of
  ``r_out`` holds the reverse direction's first step, as in PyTorch);
- ``forecast_lstm``: a batch-first LSTM and ``fc`` on the last step predicting 3 values, MSE;
- ``charlm_embedding``: ``nn.Embedding`` → ``nn.LSTM`` (time-major) → ``nn.Linear`` at every step,
  cross-entropy over every position's next token;
- ``charlm_rnn_2layer``: the same with a two-layer tanh RNN and an embedding of the size of the
  head's input (both readings of a matrix fit by shape: the head is the one with a bias).
"""

import zlib
from pathlib import Path

import torch
from torch import nn
from safetensors.torch import save_file

OUT = Path(__file__).resolve().parent.parent / "Tests" / "RecurrentTests" / "Fixtures" / "examples"


class Classifier(nn.Module):
    """The tutorial's RNN: recurrent layer `rnn`, Linear `out` on the last step."""

    def __init__(self, rnn: nn.Module, features: int, outputs: int, head: str = "out"):
        super().__init__()
        self.rnn = rnn
        self.head_name = head
        setattr(self, head, nn.Linear(features, outputs))

    def forward(self, x):
        r_out, _ = self.rnn(x, None)
        return getattr(self, self.head_name)(r_out[:, -1, :])


class CharModel(nn.Module):
    def __init__(self, vocab: int, embed: int, rnn: nn.Module, hidden: int):
        super().__init__()
        self.embedding = nn.Embedding(vocab, embed)
        self.rnn = rnn
        self.fc = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        out, _ = self.rnn(self.embedding(tokens))
        return self.fc(out)


def seed(name: str) -> None:
    torch.manual_seed(zlib.crc32(name.encode()))


def save(name: str, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, loss_kind: str,
         batch_first: bool, head_placement: str) -> None:
    feature_input = inputs.dtype.is_floating_point
    x = inputs.clone().requires_grad_(feature_input)
    prediction = model(x)
    if loss_kind == "cross_entropy":
        loss = nn.functional.cross_entropy(prediction.reshape(-1, prediction.shape[-1]), targets.reshape(-1))
    else:
        loss = nn.functional.mse_loss(prediction, targets)
    loss.backward()
    tensors = {f"param.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    tensors |= {f"grad.param.{k}": p.grad.detach().contiguous() for k, p in model.named_parameters()}
    tensors["input"] = inputs.float().contiguous()
    tensors["targets"] = targets.float().contiguous()
    tensors["prediction"] = prediction.detach().contiguous()
    tensors["loss"] = loss.detach().reshape(1)
    if feature_input:
        tensors["grad.input"] = x.grad.detach().contiguous()
    meta = {"batch_first": str(batch_first).lower(), "head_placement": head_placement, "loss": loss_kind,
            "torch_version": torch.__version__.split("+")[0]}
    save_file(tensors, str(OUT / f"{name}.safetensors"), metadata=meta)


def main() -> None:
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.glob("*.safetensors"):
        old.unlink()

    seed("mnist_tutorial")
    model = Classifier(nn.LSTM(input_size=7, hidden_size=6, num_layers=1, batch_first=True), 6, 4)
    save("mnist_tutorial", model, torch.rand(3, 5, 7), torch.tensor([2, 0, 3]), "cross_entropy", True, "last_step")

    seed("mnist_bigru_2layer")
    model = Classifier(nn.GRU(input_size=7, hidden_size=5, num_layers=2, batch_first=True, bidirectional=True), 10, 4)
    save("mnist_bigru_2layer", model, torch.rand(3, 5, 7), torch.tensor([1, 3, 3]), "cross_entropy", True, "last_step")

    seed("forecast_lstm")
    model = Classifier(nn.LSTM(input_size=3, hidden_size=6, batch_first=True), 6, 3, head="fc")
    save("forecast_lstm", model, torch.randn(4, 8, 3), torch.randn(4, 3), "mse", True, "last_step")

    seed("charlm_embedding")
    model = CharModel(9, 4, nn.LSTM(4, 6), 6)
    tokens = torch.randint(0, 9, (6, 3))
    save("charlm_embedding", model, tokens, torch.randint(0, 9, (6, 3)), "cross_entropy", False, "every_step")

    seed("charlm_rnn_2layer")
    model = CharModel(9, 6, nn.RNN(6, 6, num_layers=2), 6)
    tokens = torch.randint(0, 9, (5, 2))
    save("charlm_rnn_2layer", model, tokens, torch.randint(0, 9, (5, 2)), "cross_entropy", False, "every_step")


if __name__ == "__main__":
    main()
