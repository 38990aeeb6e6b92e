import LessonKit
import Tensor
import Testing

/// Shapes with ragged edges (not multiples of 6, 16 or 32) and, with the small block sizes
/// below, several blocks along every dimension.
private let shapes: [(m: Int, k: Int, n: Int)] = [(1, 1, 1), (7, 5, 33), (13, 37, 45), (50, 70, 100), (24, 64, 64)]
private let smallBlocks = MatmulLadder.BlockSizes(mc: 12, kc: 16, nc: 64)

/// Checks `fast` against the naive rung element by element within the rounding bound
/// `MatmulLadder.errorBound` (Higham's γ_K bound, doubled for two independent roundings).
private func expectMatchesNaive(_ m: Int, _ k: Int, _ n: Int, _ fast: (Tensor, Tensor) -> Tensor) {
    let a = MatmulLadder.randomMatrix(rows: m, columns: k, seed: 1)
    let b = MatmulLadder.randomMatrix(rows: k, columns: n, seed: 2)
    let reference = MatmulLadder.naive(a, b)
    let result = fast(a, b)
    #expect(result.shape == [m, n])
    let bound = MatmulLadder.errorBound(a, b).scalars
    let outside = zip(zip(result.scalars, reference.scalars), bound).filter { Swift.abs($0.0 - $0.1) > $1 }
    #expect(outside.isEmpty, "\(outside.count) elements outside the rounding bound for \(m)x\(k)x\(n)")
}

@Suite("Matmul ladder: every rung matches the naive loops")
struct MatmulLadderTests {
    @Test func naiveMatchesHandComputedProduct() {
        // [[1, 2], [3, 4]] · [[5, 6, 7], [8, 9, 10]] = [[21, 24, 27], [47, 54, 61]]
        let a = Tensor(shape: [2, 2], scalars: [1, 2, 3, 4])
        let b = Tensor(shape: [2, 3], scalars: [5, 6, 7, 8, 9, 10])
        #expect(MatmulLadder.naive(a, b).scalars == [21, 24, 27, 47, 54, 61])
    }

    @Test(arguments: shapes.indices) func reordered(_ s: Int) {
        expectMatchesNaive(shapes[s].m, shapes[s].k, shapes[s].n) { MatmulLadder.reordered($0, $1) }
    }

    @Test(arguments: shapes.indices) func simd(_ s: Int) {
        expectMatchesNaive(shapes[s].m, shapes[s].k, shapes[s].n) { MatmulLadder.simd($0, $1) }
    }

    @Test(arguments: shapes.indices) func blockedWithSmallBlocks(_ s: Int) {
        expectMatchesNaive(shapes[s].m, shapes[s].k, shapes[s].n) { MatmulLadder.blocked($0, $1, blockSizes: smallBlocks) }
    }

    @Test(arguments: shapes.indices) func blockedWithDefaultBlocks(_ s: Int) {
        expectMatchesNaive(shapes[s].m, shapes[s].k, shapes[s].n) { MatmulLadder.blocked($0, $1) }
    }

    @Test(arguments: shapes.indices) func threadedWithSmallBlocks(_ s: Int) {
        expectMatchesNaive(shapes[s].m, shapes[s].k, shapes[s].n) { MatmulLadder.threaded($0, $1, blockSizes: smallBlocks) }
    }

    @Test func stridedInputsAreHandled() {
        // A transposed view (non-contiguous) must give the same product as its copy.
        let at = MatmulLadder.randomMatrix(rows: 9, columns: 11, seed: 3)
        let b = MatmulLadder.randomMatrix(rows: 9, columns: 20, seed: 4)
        let view = at.transposed(0, 1)
        #expect(MatmulLadder.threaded(view, b, blockSizes: smallBlocks).scalars
                    == MatmulLadder.threaded(view.contiguous(), b, blockSizes: smallBlocks).scalars)
        #expect(MatmulLadder.naive(view, b).scalars == MatmulLadder.naive(view.contiguous(), b).scalars)
    }

    @Test func randomMatrixIsSeededAndInRange() {
        let x = MatmulLadder.randomMatrix(rows: 10, columns: 10, seed: 42).scalars
        #expect(x == MatmulLadder.randomMatrix(rows: 10, columns: 10, seed: 42).scalars)
        #expect(x != MatmulLadder.randomMatrix(rows: 10, columns: 10, seed: 43).scalars)
        #expect(x.allSatisfy { $0 >= -1 && $0 < 1 })
    }
}
