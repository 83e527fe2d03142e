// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Recurrent",
    products: [
        .library(name: "Recurrent", targets: ["Recurrent"]),
        // ONNX import and export, in its own product so that the core library has no dependency.
        .library(name: "RecurrentONNX", targets: ["RecurrentONNX"]),
        .executable(name: "recurrent", targets: ["RecurrentCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation` builds the DocC catalog (Sources/Recurrent/Recurrent.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
        // Reads and writes `.onnx` files (RecurrentONNX only; the generated code is committed,
        // made by Tools/generate_onnx_proto.sh with the plugin of 1.39.0).
        .package(url: "https://github.com/apple/swift-protobuf", "1.28.0"..<"2.0.0"),
    ],
    targets: [
        .target(name: "_RecurrentKernels"),
        .target(name: "Recurrent", dependencies: ["_RecurrentKernels"]),
        .target(
            name: "RecurrentONNX",
            dependencies: ["Recurrent", .product(name: "SwiftProtobuf", package: "swift-protobuf")]
        ),
        .executableTarget(
            name: "RecurrentCLI",
            dependencies: [
                "Recurrent",
                "RecurrentONNX",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "RecurrentTests",
            dependencies: ["Recurrent", "RecurrentONNX", "_RecurrentKernels"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
