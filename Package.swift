// swift-tools-version: 6.0
// A diffusion-models textbook in Swift: Tensor → Autograd → Diffusion → Lessons.
import PackageDescription

/// Every target is compiled for the CPU it is built on. Without `-target-cpu`, Swift targets
/// baseline x86-64 and `SIMD16<Float>.addProduct` becomes a libm call per lane (~1.5 GFLOP/s
/// instead of ~200 GFLOP/s per core for the GEMM). Packages here are always built from source
/// on the machine that runs them (`swift run`, `swift test`), so `native` is the right target;
/// see docs/architecture.md ("Build flags").
let native: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "native"])]

let package = Package(
    name: "SwiftDiffusion",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Tensor", targets: ["Tensor"]),
        .library(name: "Autograd", targets: ["Autograd"]),
        .library(name: "Diffusion", targets: ["Diffusion"]),
        .library(name: "LessonKit", targets: ["LessonKit"]),
        .library(name: "DiffusionStudies", targets: ["DiffusionStudies"]),
        .executable(name: "bench", targets: ["bench"]),
        .executable(name: "diffuse", targets: ["diffuse"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CLibPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"]), .brew(["libpng"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .target(name: "Tensor", dependencies: ["CLibPNG", "CZlib"], swiftSettings: native),
        .executableTarget(name: "bench", dependencies: ["Tensor", "Autograd", "Diffusion", .product(name: "ArgumentParser", package: "swift-argument-parser")], swiftSettings: native),
        .testTarget(name: "TensorTests", dependencies: ["Tensor"], exclude: ["Fixtures"], swiftSettings: native),
        .target(name: "Autograd", dependencies: ["Tensor"], swiftSettings: native),
        .testTarget(name: "AutogradTests", dependencies: ["Autograd", "Tensor"],
                    exclude: ["Fixtures"], swiftSettings: native),
        // Resources: CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz) and its licences.
        .target(name: "Diffusion", dependencies: ["Tensor", "Autograd"], resources: [.copy("Resources")], swiftSettings: native),
        // DiffusionTests also test DiffusionStudies: the studies measure samplers against the
        // Gaussian mixture and share its fixtures and tolerance helpers.
        .testTarget(name: "DiffusionTests", dependencies: ["Diffusion", "DiffusionStudies", "Autograd", "Tensor"],
                    exclude: ["Fixtures"], swiftSettings: native),
        .executableTarget(
            name: "diffuse",
            dependencies: ["Diffusion", "Autograd", "Tensor", "LessonKit",
                           .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: native),
        // Lessons: LessonKit (plots, progress, reports, shared lesson options; diffuse uses its
        // plots and progress bar too), DiffusionStudies (the measurements lessons 05-06 make of
        // samplers, which a user of the library does not need) and one executable per lesson.
        .target(name: "LessonKit", dependencies: ["Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")], path: "Sources/Lessons/LessonKit", swiftSettings: native),
        .target(name: "DiffusionStudies", dependencies: ["Diffusion", "Autograd", "Tensor"], path: "Sources/Lessons/DiffusionStudies",
                swiftSettings: native),
        .executableTarget(
            name: "lesson-01-tensors", dependencies: ["LessonKit", "Tensor"],
            path: "Sources/Lessons/lesson-01-tensors", swiftSettings: native),
        .executableTarget(
            name: "lesson-02-autograd", dependencies: ["LessonKit", "Autograd", "Tensor"],
            path: "Sources/Lessons/lesson-02-autograd", swiftSettings: native),
        .executableTarget(
            name: "lesson-03-training", dependencies: ["LessonKit", "Autograd", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Lessons/lesson-03-training", swiftSettings: native),
        .testTarget(name: "LessonKitTests", dependencies: ["LessonKit", "Tensor"], swiftSettings: native),
        .executableTarget(
            name: "lesson-04-ddpm",
            dependencies: ["Diffusion", "Autograd", "LessonKit", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Lessons/lesson-04-ddpm", swiftSettings: native),
        .executableTarget(
            name: "lesson-05-ddim",
            dependencies: ["Diffusion", "DiffusionStudies", "Autograd", "LessonKit", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Lessons/lesson-05-ddim", swiftSettings: native),
        .executableTarget(
            name: "lesson-06-samplers",
            dependencies: ["Diffusion", "DiffusionStudies", "LessonKit", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Lessons/lesson-06-samplers", swiftSettings: native),
        .executableTarget(
            name: "lesson-07-latent-diffusion",
            dependencies: ["Diffusion", "Autograd", "LessonKit", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Lessons/lesson-07-latent-diffusion", swiftSettings: native),
        // The trained-denoiser study (issue 15): samplers with exact and trained MLP denoisers on
        // lesson 06's mixture; writes docs/data/trained-denoiser-*.csv.
        .executableTarget(
            name: "trained-denoiser-study",
            dependencies: ["Diffusion", "DiffusionStudies", "LessonKit", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Lessons/trained-denoiser-study", swiftSettings: native),
        .executableTarget(
            name: "lesson-08-stable-diffusion",
            dependencies: ["Diffusion", "Autograd", "LessonKit", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Lessons/lesson-08-stable-diffusion", swiftSettings: native),
        // Lesson 09 (issue 15): why euler_ancestral works in 5-10 steps, from the committed
        // studies and sweeps under docs/data/ and a live convergence measurement.
        .executableTarget(
            name: "lesson-09-few-step-sampling",
            dependencies: ["Diffusion", "LessonKit", "Tensor", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            path: "Sources/Lessons/lesson-09-few-step-sampling", swiftSettings: native),
    ]
)
