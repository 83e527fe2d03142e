import Testing
@testable import Recurrent

/// Five full-batch steps of each optimizer on `LSTM(3, 5)` + `Linear(5, 2)` reproduce PyTorch's
/// losses, clipping norms and final weights.
///
/// Tolerance 1e-4 relative (+1e-5 absolute): five steps compound the forward and gradient
/// differences (each ~1e-6) through the updates, and Adam divides by √v, which amplifies
/// relative error in tiny gradients.
@Suite struct OptimizerFixtureTests {
    final class Model: Module {
        let lstm = LSTM(inputSize: 3, hiddenSize: 5)
        let head = Linear(inputSize: 5, outputSize: 2)
        var isTraining = true
        var namedParameters: [(name: String, tensor: Tensor)] {
            prefixed("lstm", lstm.namedParameters) + prefixed("head", head.namedParameters)
        }
    }

    @Test(arguments: Fixtures.names(in: "optim"))
    func optimizerMatchesPyTorch(_ name: String) throws {
        let f = try Fixtures.load("optim/" + name)
        let model = Model()
        try model.loadStateDict(f.stateDict(prefix: "init."))
        let x = try f.tensor("input"), target = try f.tensor("target")
        func hyper(_ key: String) -> Float { Float(f.metadata[key] ?? "") ?? 0 }
        let lr = hyper("lr"), wd = hyper("weight_decay")
        var optimizer: any Optimizer = switch f.metadata["optimizer"] {
        case "sgd": SGD(parameters: model.parameters, learningRate: lr, momentum: hyper("momentum"), dampening: hyper("dampening"),
                        weightDecay: wd, nesterov: f.metadata["nesterov"] == "True" || f.metadata["nesterov"] == "true")
        case "adam": Adam(parameters: model.parameters, learningRate: lr, betas: (hyper("beta1"), hyper("beta2")),
                          epsilon: hyper("eps"), weightDecay: wd)
        default: Adam.adamW(parameters: model.parameters, learningRate: lr, betas: (hyper("beta1"), hyper("beta2")),
                            epsilon: hyper("eps"), weightDecay: wd)
        }
        let maxNorm = Float(f.metadata["max_norm"] ?? "none")
        let steps = f.int("steps")
        var losses: [Float] = [], norms: [Float] = []
        for _ in 0..<steps {
            optimizer.zeroGrad()
            let loss = try mseLoss(model.head(try model.lstm(x).output), target)
            losses.append(loss.item)
            loss.backward()
            if let maxNorm { norms.append(try clipGradNorm(model.parameters, maxNorm: maxNorm)) }
            optimizer.step()
        }
        expectClose(losses, try f.values("losses"), rtol: 1e-4, atol: 1e-6, "\(name) losses")
        if maxNorm != nil { expectClose(norms, try f.values("grad_norms"), rtol: 1e-4, atol: 1e-6, "\(name) grad norms") }
        for (pname, p) in model.namedParameters {
            expectClose(p.scalars, try f.values("final." + pname), rtol: 1e-4, atol: 1e-5, "\(name) final \(pname)")
        }
    }

    @Test func allOptimizerFixturesPresent() {
        #expect(Set(Fixtures.names(in: "optim")) == ["sgd", "sgd_momentum", "sgd_nesterov", "adam", "adam_weight_decay", "adamw", "adamw_clip", "sgd_momentum_clip"])
    }
}
