// Modules: objects that own parameters and child modules under names, so that every parameter
// has a dotted path equal to its PyTorch/diffusers state-dict key
// (`down_blocks.0.resnets.1.conv1.weight`): a module lists its own parameters and its named
// children, and `namedParameters()` walks the tree depth-first in declaration order (the order
// of `torch.nn.Module.named_parameters()`).

import Tensor

/// A node of a model: named parameters and named child modules (like `torch.nn.Module`).
public protocol Module: AnyObject {
    /// The parameters this module owns directly, by local name (for example "weight", "bias").
    var ownParameters: [(name: String, variable: Variable)] { get }
    /// The child modules, by local name (a Sequential's children are "0", "1", ...).
    var children: [(name: String, module: any Module)] { get }
    /// Switches training-only behaviour (dropout) on or off for this module alone;
    /// `train(_:)` applies it to the whole tree.
    func setTrainingMode(_ training: Bool)
}

/// A module with one input and one output (what `Sequential` chains).
public protocol Layer: Module {
    /// The forward pass.
    func callAsFunction(_ input: Variable) -> Variable
}

extension Module {
    /// No parameters of its own by default.
    public var ownParameters: [(name: String, variable: Variable)] { [] }
    /// No children by default.
    public var children: [(name: String, module: any Module)] { [] }
    /// Most modules behave the same in training and evaluation.
    public func setTrainingMode(_ training: Bool) {}

    /// Every parameter of the tree under its dotted name, in declaration order.
    public func namedParameters(prefix: String = "") -> [(name: String, variable: Variable)] {
        var out = ownParameters.map { (prefix + $0.name, $0.variable) }
        for (name, child) in children {
            out += child.namedParameters(prefix: prefix + name + ".")
        }
        return out
    }

    /// Every parameter of the tree, in declaration order.
    public var parameters: [Variable] { namedParameters().map(\.variable) }

    /// Lets the OS drop the resident pages of every parameter that is mapped from a weight file
    /// (16-bit weights loaded with `keepHalfPrecision`); they are read back from the file when
    /// the module next runs. Call it on a model that is idle for a while, as Apple's
    /// ml-stable-diffusion (`reduceMemory`) unloads the text encoder after encoding and the UNet
    /// before decoding; the cost is re-reading the weights on the next call.
    public func releaseResidentWeights() {
        for variable in parameters { variable.halfPrecisionValue?.releaseResidentPages() }
    }

    /// The total number of scalar parameters.
    public var parameterCount: Int { parameters.reduce(0) { $0 + $1.count } }

    /// Switches dropout (and any other training-only behaviour) on or off in the whole tree,
    /// as `module.train(mode)` / `module.eval()` in PyTorch.
    public func train(_ training: Bool = true) {
        setTrainingMode(training)
        for (_, child) in children { child.train(training) }
    }

    /// Clears every parameter's gradient.
    public func zeroGrad() {
        for p in parameters { p.zeroGrad() }
    }
}

/// Parameter initialization as PyTorch's `reset_parameters`, drawing from `generator` in the
/// same order as torch does from its global generator.
public enum Initialization {
    /// U(−b, b) with b = gain·√(3/fan_in) and gain = √(2/(1 + a²)), a = √5: torch's
    /// `kaiming_uniform_(w, a=math.sqrt(5))` (He et al. 2015), the default for Linear and Conv
    /// weights. Bounds are computed in Double like Python, samples as `uniform_`: u·(2b) − b.
    public static func kaimingUniform(_ shape: [Int], fanIn: Int, generator: inout some RandomTensorGenerator) -> Tensor {
        let a = 5.0.squareRoot()
        let gain = (2.0 / (1 + a * a)).squareRoot()
        let bound = 3.0.squareRoot() * (gain / Double(fanIn).squareRoot())
        return uniform(shape, bound: Float(bound), generator: &generator)
    }

    /// U(−1/√fan_in, 1/√fan_in): torch's default bias initialization.
    public static func biasUniform(_ shape: [Int], fanIn: Int, generator: inout some RandomTensorGenerator) -> Tensor {
        uniform(shape, bound: Float(fanIn > 0 ? 1 / Double(fanIn).squareRoot() : 0), generator: &generator)
    }

    /// U(−bound, bound) computed as torch's `uniform_(from, to)` on the CPU: u·(to − from) + from
    /// with `to − from` in Float32 and the rest in Double (`dist_acctype<float>`), then rounded.
    public static func uniform(_ shape: [Int], bound: Float, generator: inout some RandomTensorGenerator) -> Tensor {
        if generator is DeferredWeights { return DeferredWeights.placeholder(shape) }
        let width = Double(bound - (-bound)), from = Double(-bound)
        return generator.rand(shape).map { Float(Double($0) * width + from) }
    }
}

/// A stand-in generator for models whose weights are loaded from a file right after they are
/// built (PyTorch's meta device, diffusers' `init_empty_weights`): every parameter starts as a
/// broadcast view of a single zero, which costs no memory, instead of random numbers that would
/// be drawn (860 M of them for Stable Diffusion's UNet) only to be overwritten. A model built
/// this way computes zeros until its weights are loaded.
public struct DeferredWeights: RandomTensorGenerator {
    /// Creates the stand-in.
    public init() {}
    /// A zero-cost all-zero tensor of `shape` (every stride 0 over one element).
    public static func placeholder(_ shape: [Int]) -> Tensor {
        Tensor(storage: TensorStorage(count: 1, repeating: 0), shape: shape, strides: Array(repeating: 0, count: shape.count))
    }
    /// A placeholder of zeros.
    public mutating func randn(_ shape: [Int]) -> Tensor { Self.placeholder(shape) }
    /// A placeholder of zeros.
    public mutating func rand(_ shape: [Int]) -> Tensor { Self.placeholder(shape) }
}
