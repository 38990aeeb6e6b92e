import Testing
import Tensor

/// Naive concatenation: output element i along `axis` comes from the input whose range holds i.
private func naiveConcatenate(_ tensors: [Tensor], axis: Int) -> (shape: [Int], values: [Double]) {
    var shape = tensors[0].shape
    shape[axis] = tensors.reduce(0) { $0 + $1.shape[axis] }
    let values = allIndices(shape).map { index -> Double in
        var i = index
        for t in tensors {
            if i[axis] < t.shape[axis] { return element(t, i) }
            i[axis] -= t.shape[axis]
        }
        return .nan
    }
    return (shape, values)
}

@Suite("Ops: concatenate, stack, split, chunk")
struct OpsJoiningTests {
    /// Copies are exact: compared with ==.
    @Test(arguments: [0, 1, 2, -1])
    func concatenateMatchesNaiveReference(axis: Int) {
        var random = OpsTestRandom(seed: 41)
        let a = axis < 0 ? axis + 3 : axis
        var shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
        shapes[1][a] = 5
        shapes[2][a] = 0
        // Inputs in different layouts, including a broadcast view and an empty tensor.
        let first = layouts(random.uniforms(24), shape: shapes[0])[1].tensor
        let second = layouts(random.uniforms(shapes[1].reduce(1, *)), shape: shapes[1])[2].tensor
        let third = Tensor.zeros(shapes[2])
        let fourth = expandedTensor([2, 3, 4], axis: a, seed: 9)
        let inputs = [first, second, third, fourth]
        let r = Tensor.concatenate(inputs, axis: axis)
        let expected = naiveConcatenate(inputs, axis: a)
        #expect(r.shape == expected.shape)
        #expect(r.scalars.map(Double.init) == expected.values)
    }

    @Test func concatenateOfOneIsACopy() {
        let t = randomTensor([3, 2], seed: 1).transposed()
        let r = Tensor.concatenate([t], axis: 0)
        #expect(r.scalars == t.scalars && r.isContiguous)
    }

    @Test(arguments: [0, 1, 2, -1])
    func stackInsertsANewAxis(axis: Int) {
        let tensors = (0..<3).map { randomTensor([2, 4], seed: UInt64($0)) }
        let views = [tensors[0], tensors[1].transposed().contiguous().transposed(), tensors[2]]
        let s = Tensor.stack(views, axis: axis)
        let a = axis < 0 ? axis + 3 : axis
        var shape = [2, 4]
        shape.insert(3, at: a)
        #expect(s.shape == shape)
        for index in allIndices(shape) {
            var inner = index
            let k = inner.remove(at: a)
            #expect(element(s, index) == element(tensors[k], inner))
        }
    }

    @Test func splitAndChunkReturnViewsThatRoundTrip() {
        let t = randomTensor([4, 7, 3], seed: 5)
        let parts = t.split(sizes: [2, 0, 4, 1], axis: 1)
        #expect(parts.map(\.shape) == [[4, 2, 3], [4, 0, 3], [4, 4, 3], [4, 1, 3]])
        #expect(parts.allSatisfy { $0.storage === t.storage })
        #expect(Tensor.concatenate(parts, axis: 1).scalars == t.scalars)
        for index in allIndices([4, 4, 3]) {
            #expect(element(parts[2], index) == element(t, [index[0], index[1] + 2, index[2]]))
        }
        // torch.chunk: 7 into 3 → 3, 3, 1; 6 into 4 → 2, 2, 2 (only three pieces).
        #expect(t.chunked(3, axis: -2).map { $0.shape[1] } == [3, 3, 1])
        #expect(randomTensor([6], seed: 1).chunked(4, axis: 0).map { $0.shape[0] } == [2, 2, 2])
        #expect(Tensor.concatenate(t.chunked(2, axis: 0), axis: 0).scalars == t.scalars)
    }
}
