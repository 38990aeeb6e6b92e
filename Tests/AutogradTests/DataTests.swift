import Foundation
import Testing
import Tensor
import Autograd

@Suite("Data: idx parsing, batching")
struct DataTests {
    @Test func idxRoundTrip() throws {
        let data = IDX.encode(bytes: [0, 1, 2, 255, 128, 7], shape: [2, 3])
        let t = try IDX.parse(data)
        #expect(t.shape == [2, 3])
        #expect(t.scalars == [0, 1, 2, 255, 128, 7])
    }

    /// Big-endian multi-byte types, written by hand: i16 −2 and 258; f32 1.5.
    @Test func idxMultiByteTypes() throws {
        let i16 = Data([0, 0, 0x0B, 1, 0, 0, 0, 2, 0xFF, 0xFE, 0x01, 0x02])
        #expect(try IDX.parse(i16).scalars == [-2, 258])
        let f32 = Data([0, 0, 0x0D, 1, 0, 0, 0, 1, 0x3F, 0xC0, 0, 0])
        #expect(try IDX.parse(f32).scalars == [1.5])
    }

    @Test(arguments: [
        (Data([0, 0, 8]), "too short"),
        (Data([0x1F, 0x8B, 8, 1, 0, 0, 0, 1, 0]), "magic"),
        (Data([0, 0, 0x42, 1, 0, 0, 0, 1, 0]), "element type"),
        (Data([0, 0, 8, 2, 0, 0, 0, 2]), "declares 2 dimensions"),
        (Data([0, 0, 8, 1, 0, 0, 0, 3, 1, 2]), "need 11 bytes but the file has 10"),
    ])
    func malformedIDXIsAClearError(data: Data, message: String) {
        #expect {
            try IDX.parse(data, name: "bad.idx")
        } throws: { error in
            String(describing: error).contains(message) && String(describing: error).contains("bad.idx")
        }
    }

    @Test func samplerVisitsEveryExampleOncePerEpoch() {
        var sampler = BatchSampler(count: 10, batchSize: 3, seed: 1)
        #expect(sampler.batchesPerEpoch == 4)
        var firstEpoch: [Int] = []
        for _ in 0..<4 { firstEpoch += sampler.next() }
        #expect(firstEpoch.sorted() == Array(0..<10))
        #expect(firstEpoch != Array(0..<10))        // shuffled (seed 1)
        var secondEpoch: [Int] = []
        for _ in 0..<4 { secondEpoch += sampler.next() }
        #expect(secondEpoch.sorted() == Array(0..<10))
        #expect(secondEpoch != firstEpoch)
        #expect(sampler.epoch == 1)
    }

    @Test func samplerDropsLastAndResumesFromItsState() throws {
        var sampler = BatchSampler(count: 10, batchSize: 4, dropsLast: true, seed: 2)
        #expect(sampler.batchesPerEpoch == 2)
        _ = sampler.next()
        let saved = try JSONEncoder().encode(sampler)
        var restored = try JSONDecoder().decode(BatchSampler.self, from: saved)
        for _ in 0..<5 {
            let a = sampler.next(), b = restored.next()
            #expect(a == b)
            #expect(a.count == 4)
        }
    }

    @Test func datasetBatchGathersRows() {
        let inputs = Tensor(shape: [3, 2], scalars: [0, 1, 10, 11, 20, 21])
        let data = LabelledDataset(inputs: inputs, labels: [5, 6, 7])
        let (x, y) = data.batch([2, 0])
        #expect(x.scalars == [20, 21, 0, 1])
        #expect(y == [7, 5])
    }
}
