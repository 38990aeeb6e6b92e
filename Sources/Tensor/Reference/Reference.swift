// Reference: the textbook definition of every op family that has a fast kernel, written to be
// read first.
//
// Contract: each function here has the semantics of its fast counterpart (same arguments, same
// shapes, same errors for wrong shapes) and computes it by the defining loop nest: no blocking,
// packing, SIMD or threads, and sums accumulated in Double so that the reference is the more
// accurate of the two. The tests compare every fast kernel with its reference, and
// `Kernels.mode = .reference` (or `SWIFTDIFFUSION_KERNELS=reference`) runs the whole library
// on these loops (KernelMode.swift).
//
// | family                      | reference                        | fast kernel                                   |
// |-----------------------------|----------------------------------|-----------------------------------------------|
// | matrix product              | Reference+Matmul.swift           | Kernels/Tensor+Matmul.swift, GEMM.swift       |
// | 2-D convolution, 3 passes   | Reference+Conv2d.swift           | Kernels/Conv2d.swift (+Phases, +Winograd, ...) |
// | scaled dot-product attention| Reference+Attention.swift        | Kernels/Attention.swift                       |
// | layer and group norm        | Reference+Normalization.swift    | Ops/Tensor+Normalization.swift                |
//
// Reading path: these files, then lesson 01's matmul ladder
// (Sources/Lessons/LessonKit/MatmulLadder.swift), then the fast kernels, whose headers say what
// they add over the reference (see docs/architecture.md, "Reading path").

/// The textbook reference of each kernel family (see the table in Reference.swift).
public enum Reference {}
