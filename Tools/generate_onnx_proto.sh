#!/usr/bin/env bash
# Regenerates Sources/RecurrentONNX/Generated/onnx.pb.swift from the onnx.proto that the onnx
# wheel ships. Run by hand only when the schema changes; the output is committed so that neither
# users nor CI need protoc or the plugin.
#
# Made with: onnx 1.23.2 (pip; its onnx/onnx.proto, IR version 12 / opset 25 schema),
# protoc 3.21.12 (Debian bookworm's protobuf-compiler), protoc-gen-swift 1.39.0 (built from
# apple/swift-protobuf at tag 1.39.0: `swift build --product protoc-gen-swift`).
#
#   apt-get install -y protobuf-compiler
#   PROTOC_GEN_SWIFT=/path/to/swift-protobuf/.build/release/protoc-gen-swift Tools/generate_onnx_proto.sh
set -euo pipefail
cd "$(dirname "$0")/.."
plugin="${PROTOC_GEN_SWIFT:?set PROTOC_GEN_SWIFT to the protoc-gen-swift binary (swift-protobuf 1.39.0)}"
proto_dir="$(python3 -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')"
python3 -c 'import onnx; assert onnx.__version__ == "1.23.2", onnx.__version__'
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cp "$proto_dir/onnx.proto" "$tmp/onnx.proto"
# Public types, so that RecurrentONNX's API may show them (Onnx_ModelProto, …).
protoc --plugin=protoc-gen-swift="$plugin" --proto_path="$tmp" \
    --swift_opt=Visibility=Public --swift_out="$tmp" "$tmp/onnx.proto"
mkdir -p Sources/RecurrentONNX/Generated
cp "$tmp/onnx.pb.swift" Sources/RecurrentONNX/Generated/onnx.pb.swift
echo "wrote Sources/RecurrentONNX/Generated/onnx.pb.swift ($(wc -c < Sources/RecurrentONNX/Generated/onnx.pb.swift) bytes)"
