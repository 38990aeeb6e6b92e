import Testing
import Tensor

@Suite("Ops: indexSelect, gather, padded")
struct OpsIndexingTests {
    @Test(arguments: [0, 1, 2, -1])
    func indexSelectMatchesNaiveReference(axis: Int) {
        var random = OpsTestRandom(seed: 12)
        let shape = [3, 4, 5]
        let a = axis < 0 ? axis + 3 : axis
        let indices = [shape[a] - 1, 0, 1, 0]  // out of order, with a repeat
        for (name, t) in layouts(random.uniforms(60), shape: shape) + [("expanded", expandedTensor(shape, axis: (a + 1) % 3, seed: 4))] {
            let r = t.indexSelect(axis: axis, indices: indices)
            var outShape = shape
            outShape[a] = indices.count
            #expect(r.shape == outShape)
            let expected = allIndices(outShape).map { index -> Double in
                var source = index
                source[a] = indices[index[a]]
                return element(t, source)
            }
            #expect(r.scalars.map(Double.init) == expected, "\(name)")
        }
        #expect(randomTensor([3, 2], seed: 1).indexSelect(axis: 0, indices: []).shape == [0, 2])
    }

    /// torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] for axis 1 (and likewise per axis),
    /// with an index tensor smaller than the input on the other axes.
    @Test(arguments: [0, 1, 2])
    func gatherMatchesNaiveReference(axis: Int) {
        var random = OpsTestRandom(seed: 13)
        let shape = [3, 4, 5]
        let indexShape = [2, 3, 4]
        let indexValues = (0..<indexShape.reduce(1, *)).map { _ in Float(Int(random.uniform(0, Float(shape[axis])))) }
        let index = Tensor(shape: indexShape, scalars: indexValues)
        for (name, t) in layouts(random.uniforms(60), shape: shape) {
            let r = t.gather(axis: axis, indices: index.transposed(0, 0))
            #expect(r.shape == indexShape)
            let expected = allIndices(indexShape).map { i -> Double in
                var source = i
                source[axis] = Int(element(index, i))
                return element(t, source)
            }
            #expect(r.scalars.map(Double.init) == expected, "\(name)")
        }
    }

    @Test func paddedMatchesNaiveReference() {
        var random = OpsTestRandom(seed: 14)
        let shape = [2, 3, 4]
        let widths = [(before: 1, after: 0), (before: 0, after: 2), (before: 3, after: 1)]
        for (name, t) in layouts(random.uniforms(24), shape: shape) + [("expanded", expandedTensor(shape, axis: 1, seed: 2))] {
            let r = t.padded(widths, value: -9)
            let outShape = [3, 5, 8]
            #expect(r.shape == outShape)
            let expected = allIndices(outShape).map { index -> Double in
                let source = zip(index, widths).map { $0 - $1.before }
                let inside = zip(source, shape).allSatisfy { $0 >= 0 && $0 < $1 }
                return inside ? element(t, source) : -9
            }
            #expect(r.scalars.map(Double.init) == expected, "\(name)")
        }
        #expect(Tensor(Float(2)).padded([]).scalars == [2])
        #expect(Tensor.zeros([0, 2]).padded([(1, 1), (0, 0)], value: 5).scalars == [5, 5, 5, 5])
    }
}
