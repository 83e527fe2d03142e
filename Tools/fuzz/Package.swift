// swift-tools-version:6.0
// The fuzzing harness: one libFuzzer executable per decoder, built with
//   swift build -c release --scratch-path .build -Xswiftc -sanitize=fuzzer,address
// See README.md. Not part of the main package and not run by CI.
import PackageDescription

let targets = ["safetensors", "npy", "model", "csv", "idx", "gzip"]

let package = Package(
    name: "RecurrentFuzz",
    // `name:` makes `package: "Recurrent"` work whatever the checkout folder is called.
    dependencies: [.package(name: "Recurrent", path: "../..")],
    targets: [
        // Declares libFuzzer's `LLVMFuzzerRunDriver` (the sanitizer runtime defines it).
        .target(name: "CFuzzDriver"),
        .target(name: "FuzzSupport", dependencies: ["CFuzzDriver", .product(name: "Recurrent", package: "Recurrent")]),
    ] + targets.map {
        .executableTarget(
            name: "fuzz-\($0)", dependencies: ["FuzzSupport", .product(name: "Recurrent", package: "Recurrent")],
            // gold, the default linker here, fails on the sanitizers' objects ("internal error in
            // format_file_lineno"); the toolchain's lld links them.
            linkerSettings: [.unsafeFlags(["-Xclang-linker", "-fuse-ld=lld"], .when(platforms: [.linux]))]
        )
    }
)
