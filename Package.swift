// swift-tools-version: 6.2
import PackageDescription

// Layout: C shims (CZeroMQ, COpenBLAS, COneDNN); pure cores (TuneCore, TuneWire, CPUKernels,
// CUDAKernels); I/O shells (TuneSystem, TuneTransport, CUDADriver, TuneAgent, TuneStore,
// TuneCoordinator); thin executables. The agent's graph never reaches GRDB, so it stays lean.
let package = Package(
    name: "TuneFleet",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "coordd", targets: ["coordd"]),
        .executable(name: "tune-agent", targets: ["tune-agent"]),
        .executable(name: "coordctl", targets: ["coordctl"]),
        // The GPU check (tools/cuda/build_bench.sh builds it statically for a GPU node).
        .executable(name: "tunefleet-gpu-bench", targets: ["tunefleet-gpu-bench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
    ],
    targets: [
        .systemLibrary(name: "CZeroMQ", path: "Sources/CZeroMQ"),
        .systemLibrary(name: "COpenBLAS", path: "Sources/COpenBLAS"),
        .systemLibrary(name: "CXGBoost", path: "Sources/CXGBoost"),

        // Pure cores: no I/O, no clock.
        .target(name: "TuneCore"),
        .target(name: "TuneWire", dependencies: [
            "TuneCore", .product(name: "SwiftProtobuf", package: "swift-protobuf"),
        ]),
        .target(name: "CPUKernels", dependencies: ["TuneCore"]),
        .target(name: "CUDAKernels", dependencies: ["TuneCore"]),
        // The one device-class-to-space mapping, for agent and coordinator alike.
        .target(name: "TuneSpaces", dependencies: ["TuneCore", "CPUKernels", "CUDAKernels"]),
        // oneDNN's primitives behind the kernels' argument order (C shim; only the agent links it).
        .target(name: "COneDNN",
                linkerSettings: [.linkedLibrary("dnnl"), .linkedLibrary("gomp")]),
        // Reference implementations, input data, verification and vendor baselines (OpenBLAS, oneDNN).
        .target(name: "KernelReference", dependencies: ["TuneCore", "COpenBLAS", "COneDNN"]),

        // I/O shells.
        .target(name: "CSystemShim"),
        .target(name: "TuneSystem", dependencies: ["TuneCore", "CSystemShim"]),
        .target(name: "TuneTransport", dependencies: ["CZeroMQ", "TuneSystem"]),
        .target(name: "CUDADriver", dependencies: ["TuneCore"]),
        .target(name: "TuneAgent", dependencies: [
            "TuneCore", "TuneWire", "TuneTransport", "TuneSystem", "CPUKernels", "CUDAKernels", "TuneSpaces",
            "CUDADriver", "KernelReference", .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "TuneStore", dependencies: [
            "TuneCore", .product(name: "GRDB", package: "GRDB.swift"),
        ]),
        // Search strategies and task schedulers: pure, tested with fake models and results.
        .target(name: "TuneSearch", dependencies: ["TuneCore"]),
        .target(name: "TuneCoordinator", dependencies: [
            "TuneCore", "TuneWire", "TuneTransport", "TuneStore", "TuneSystem", "TuneSearch", "TuneSpaces", "CPUKernels",
            "CUDAKernels", .product(name: "Logging", package: "swift-log"),
        ]),

        // coordctl's client side: control client, dashboard, emit, bench report, local cluster.
        // It talks to coordd over the control socket and never links the daemon.
        .target(name: "TuneConsole", dependencies: [
            "TuneCore", "TuneWire", "TuneTransport", "TuneStore", "TuneSystem", "CPUKernels", "CUDAKernels",
        ]),

        // Learning from records: labels, splits, pruning, trainers and evaluation. The agent never links it.
        .target(name: "TuneFeatures", dependencies: ["TuneCore", "CPUKernels", "CUDAKernels"]),
        // Cost-model math: rankers (XGBoost through its C API) and the metrics. Pure but for the shim.
        .target(name: "TuneModel", dependencies: ["TuneCore", "CXGBoost", "COpenBLAS"]),
        .target(name: "TuneLearning", dependencies: ["TuneCore", "TuneFeatures", "TuneModel"]),

        // Test support, never a product: replay fleet, simulation, fixed cost models.
        .target(name: "TuneTestKit", dependencies: ["TuneCore", "TuneCoordinator", "TuneStore", "TuneSearch"]),

        // Settings files (TOML) for the daemons: every key is one of the command's flags.
        .target(name: "TuneConfig", dependencies: [
            .product(name: "TOMLKit", package: "TOMLKit"), .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Thin executables: flags, environment and files are read only here.
        .executableTarget(name: "coordd", dependencies: [
            "TuneCoordinator", "TuneTransport", "TuneLearning", "TuneSearch", "TuneConfig", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "tune-agent", dependencies: [
            "TuneAgent", "TuneTransport", "KernelReference", "TuneConfig", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),
        .executableTarget(name: "tunefleet-gpu-bench", dependencies: [
            "TuneCore", "TuneSystem", "CSystemShim", "CUDAKernels", "CUDADriver", "CUDATestSupport",
        ]),
        .executableTarget(name: "coordctl", dependencies: [
            "TuneConsole", "TuneStore", "TuneWire", "TuneTransport", "TuneSystem", "TuneFeatures", "TuneLearning", "TuneSearch", "CPUKernels",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // Test support, never part of a production product: CUDA fixtures (profiles, small
        // tasks, a double-precision reference) and the host shim that runs generated CUDA C
        // on the CPU. Shared by CUDAKernelsTests and the GPU bench.
        .target(name: "CUDATestSupport", dependencies: ["TuneCore", "CUDAKernels"]),

        .testTarget(name: "TuneCoreTests", dependencies: ["TuneCore"]),
        .testTarget(name: "TuneWireTests", dependencies: ["TuneWire"]),
        .testTarget(name: "TuneSpacesTests", dependencies: ["TuneSpaces", "CPUKernels", "CUDAKernels"]),
        .testTarget(name: "TuneSystemTests", dependencies: ["TuneSystem"]),
        .testTarget(name: "TuneConfigTests", dependencies: ["TuneConfig", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        .testTarget(name: "TuneTransportTests", dependencies: ["TuneTransport"]),
        .testTarget(name: "CPUKernelsTests", dependencies: ["CPUKernels", "KernelReference", "TuneAgent"]),
        .testTarget(name: "KernelReferenceTests", dependencies: ["KernelReference"]),
        .testTarget(name: "CUDAKernelsTests", dependencies: ["CUDAKernels", "CUDADriver", "TuneAgent", "CUDATestSupport"]),
        .testTarget(name: "TuneAgentTests", dependencies: ["TuneAgent", "TuneTransport", "TuneWire", "TuneSystem", "CPUKernels"]),
        .testTarget(name: "TuneLearningTests", dependencies: ["TuneLearning", "TuneFeatures", "TuneModel", "CPUKernels", "CUDAKernels", "TuneStore"]),
        .testTarget(name: "TuneStoreTests", dependencies: ["TuneStore", .product(name: "GRDB", package: "GRDB.swift")]),
        .testTarget(name: "TuneCoordinatorTests", dependencies: [
            "TuneCoordinator", "TuneSearch", "TuneSpaces", "TuneTestKit", "TuneStore", "TuneTransport", "TuneWire", "TuneSystem",
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "TuneConsoleTests", dependencies: [
            "TuneConsole", "TuneStore", "TuneTransport", "TuneWire", "TuneSystem", "TuneTestKit", "TuneCoordinator",
            "CPUKernels", "KernelReference",
        ]),
        .testTarget(name: "ClusterTests", dependencies: ["TuneConfig", "TuneConsole", "TuneStore", "TuneSystem", "TuneWire", "TuneTransport"]),
    ]
)
