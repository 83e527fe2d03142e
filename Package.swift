// swift-tools-version:6.0
import PackageDescription

let package = Package(
    name: "Recurrent",
    products: [
        .library(name: "Recurrent", targets: ["Recurrent"]),
        .executable(name: "recurrent", targets: ["RecurrentCLI"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        // `swift package generate-documentation` builds the DocC catalog (Sources/Recurrent/Recurrent.docc).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.4.0"),
    ],
    targets: [
        .target(name: "_RecurrentKernels"),
        .target(name: "Recurrent", dependencies: ["_RecurrentKernels"]),
        .executableTarget(
            name: "RecurrentCLI",
            dependencies: [
                "Recurrent",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(
            name: "RecurrentTests",
            dependencies: ["Recurrent", "_RecurrentKernels"],
            resources: [.copy("Fixtures")]
        ),
    ]
)
