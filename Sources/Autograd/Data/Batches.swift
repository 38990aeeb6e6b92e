// Mini-batches from an in-memory data set with seeded shuffling.
//
// Each epoch draws a fresh permutation from a `SplitMix64` generator (Fisher–Yates through
// Swift's `shuffle(using:)`); the generator state and the position are all a checkpoint needs
// to continue the same sequence of batches after a restart.

import Tensor

/// An in-memory labelled data set: inputs [N, ...] and one integer label per example.
public struct LabelledDataset: Sendable {
    /// All inputs, first axis = example.
    public var inputs: Tensor
    /// The label of each example.
    public var labels: [Int]

    /// Creates the data set; the first axis of `inputs` must match the label count.
    public init(inputs: Tensor, labels: [Int]) {
        precondition(inputs.rank >= 1 && inputs.shape[0] == labels.count,
                     "LabelledDataset: \(inputs.shape[0]) inputs but \(labels.count) labels")
        self.inputs = inputs.contiguous()
        self.labels = labels
    }

    /// The number of examples.
    public var count: Int { labels.count }

    /// The examples at `indices`, stacked: inputs [indices.count, ...] and their labels.
    public func batch(_ indices: [Int]) -> (inputs: Tensor, labels: [Int]) {
        let itemShape = Array(inputs.shape.dropFirst())
        let itemSize = Tensor.elementCount(itemShape)
        let batch = inputs.withUnsafeBufferPointer { src in
            Tensor(shape: [indices.count] + itemShape) { dst in
                for (row, index) in indices.enumerated() {
                    for j in 0..<itemSize { dst[row * itemSize + j] = src[index * itemSize + j] }
                }
            }
        }
        return (batch, indices.map { labels[$0] })
    }
}

/// The order in which examples are visited: batches of indices, reshuffled every epoch.
public struct BatchSampler: Codable, Sendable, Equatable {
    /// The number of examples.
    public let count: Int
    /// The batch size.
    public let batchSize: Int
    /// Whether each epoch is shuffled.
    public let shuffles: Bool
    /// Whether a last, smaller batch is dropped.
    public let dropsLast: Bool
    /// The shuffling generator (its state is saved in checkpoints).
    public private(set) var generator: SplitMix64
    /// The current epoch's order.
    public private(set) var order: [Int]
    /// The position of the next batch in `order`.
    public private(set) var position: Int
    /// Epochs completed.
    public private(set) var epoch: Int

    /// Creates the sampler; the first epoch's order is drawn at once.
    public init(count: Int, batchSize: Int, shuffles: Bool = true, dropsLast: Bool = false, seed: UInt64 = 0) {
        precondition(count > 0 && batchSize > 0, "BatchSampler: count and batch size must be positive")
        self.count = count
        self.batchSize = batchSize
        self.shuffles = shuffles
        self.dropsLast = dropsLast
        generator = SplitMix64(seed: seed)
        order = []
        position = 0
        epoch = 0
        order = drawOrder()
    }

    enum CodingKeys: String, CodingKey {
        case count, batchSize, shuffles, dropsLast, generator, order, position, epoch
    }

    /// Decodes a saved data order and validates it (`validate()`), so a damaged or edited
    /// checkpoint cannot make `next()` read outside the data set.
    /// - Throws: `DecodingError.dataCorrupted` naming the field that is wrong.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        count = try c.decode(Int.self, forKey: .count)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        shuffles = try c.decode(Bool.self, forKey: .shuffles)
        dropsLast = try c.decode(Bool.self, forKey: .dropsLast)
        generator = try c.decode(SplitMix64.self, forKey: .generator)
        order = try c.decode([Int].self, forKey: .order)
        position = try c.decode(Int.self, forKey: .position)
        epoch = try c.decode(Int.self, forKey: .epoch)
        if let problem = problem {
            throw DecodingError.dataCorrupted(DecodingError.Context(
                codingPath: decoder.codingPath, debugDescription: "invalid data order (sampler): \(problem)"))
        }
    }

    /// What makes this state unusable, or nil: a count or batch size below 1, an order that is
    /// not a permutation of 0..<count, a position outside 0...count, a negative epoch.
    public var problem: String? {
        if count < 1 { return "count \(count) must be at least 1" }
        if batchSize < 1 { return "batchSize \(batchSize) must be at least 1" }
        if order.count != count { return "order has \(order.count) indices but count is \(count)" }
        var seen = [Bool](repeating: false, count: count)
        for (i, index) in order.enumerated() {
            guard (0..<count).contains(index) else { return "order[\(i)] = \(index) lies outside 0..<\(count)" }
            guard !seen[index] else { return "order holds index \(index) twice (it must be a permutation of 0..<\(count))" }
            seen[index] = true
        }
        if !(0...count).contains(position) { return "position \(position) lies outside 0...\(count)" }
        if epoch < 0 { return "epoch \(epoch) is negative" }
        return nil
    }

    private mutating func drawOrder() -> [Int] {
        var indices = Array(0..<count)
        if shuffles { indices.shuffle(using: &generator) }
        return indices
    }

    /// The number of batches per epoch.
    public var batchesPerEpoch: Int { dropsLast ? count / batchSize : (count + batchSize - 1) / batchSize }

    /// The indices of the next batch; a new shuffled epoch starts when the current one is used up.
    public mutating func next() -> [Int] {
        let remaining = count - position
        if remaining <= 0 || (dropsLast && remaining < batchSize) {
            epoch += 1
            position = 0
            order = drawOrder()
        }
        let end = Swift.min(position + batchSize, count)
        defer { position = end }
        return Array(order[position..<end])
    }
}
