// Lesson 02: automatic differentiation, from a scalar engine to the tensor engine.
//
// Narrates and checks; the engines are library code with tests: `Scalar`
// (Autograd/Engine/Scalar.swift, a few dozen lines after micrograd) and `Variable`
// (Autograd/Engine/Variable.swift and Autograd/Ops/). Writes the page 02-autograd.md to
// out/lesson-02/ (`--out DIR`), or to docs/lessons/ with `--docs` (the committed page).
//
//   swift run -c release lesson-02-autograd      (a few seconds)

import Foundation
import LessonKit
import Tensor
import Autograd

let outputOptions = LessonOutputOptions.parseCommandLine()
let report = outputOptions.report(lesson: "lesson-02-autograd", slug: "02-autograd", title: "Lesson 02: automatic differentiation")

func format(_ x: Double, _ digits: Int) -> String { format(x, digits: digits) }
func format(_ x: Double) -> String { format(x, digits: 4) }
func scientific(_ x: Double) -> String { String(format: "%.2e", x) }
func maxDifference(_ a: Tensor, _ b: Tensor) -> Float { zip(a.scalars, b.scalars).map { abs($0 - $1) }.max() ?? 0 }

// MARK: - A scalar engine

report.heading("A neuron, differentiated by hand and by a machine")
report.paragraph("""
    Training a network means lowering a loss L by nudging every parameter against its derivative \
    ∂L/∂θ. A network has millions of parameters, so we need all of those derivatives at once, \
    cheaply. *Reverse-mode automatic differentiation* does it in one backward sweep, for about the \
    cost of the forward computation. Take one neuron, o = tanh(x₁w₁ + x₂w₂ + b), and record every \
    intermediate value as a node that remembers its inputs:
    """)
report.code("""
    let x1 = Scalar(2, label: "x1"), x2 = Scalar(0, label: "x2")
    let w1 = Scalar(-3, label: "w1"), w2 = Scalar(1, label: "w2")
    let b = Scalar(6.8813735870195432, label: "b")
    let o = (x1 * w1 + x2 * w2 + b).tanh()
    o.backward()
    """, language: "swift")
let x1 = Scalar(2, label: "x1"), x2 = Scalar(0, label: "x2")
let w1 = Scalar(-3, label: "w1"), w2 = Scalar(1, label: "w2")
let b = Scalar(6.8813735870195432, label: "b")
let x1w1 = x1 * w1; x1w1.label = "x1*w1"
let x2w2 = x2 * w2; x2w2.label = "x2*w2"
let sum = x1w1 + x2w2; sum.label = "x1*w1 + x2*w2"
let n = sum + b; n.label = "n"
let o = n.tanh(); o.label = "o = tanh(n)"
o.backward()

report.paragraph("""
    Each op (`+`, `*`, `tanh`) does two things side by side: it computes its value, and it stores a \
    small closure with its *local* derivative — for c = a·b, ∂c/∂a = b and ∂c/∂b = a; for \
    t = tanh(a), ∂t/∂a = 1 − t². The chain rule multiplies local derivatives along every path from \
    the output back to an input and adds over paths: ∂o/∂w₁ = ∂o/∂n · ∂n/∂(x₁w₁) · ∂(x₁w₁)/∂w₁. \
    `backward()` sorts the nodes so that every node comes after its inputs (a *topological order*) \
    and walks that list backwards, so a node's gradient is complete before it is passed on. Here is \
    the graph, drawn from the output back to the leaves, with each node's value and gradient:
    """)

/// Draws the graph as an indented tree from the output to the leaves.
func draw(_ node: Scalar, depth: Int = 0, into lines: inout [String]) {
    let pad = String(repeating: "    ", count: depth)
    let name = node.label.isEmpty ? "const" : node.label
    lines.append("\(pad)\(name)   value \(format(node.value))   grad \(format(node.grad))")
    for parent in node.parents { draw(parent, depth: depth + 1, into: &lines) }
}
var lines: [String] = []
draw(o, into: &lines)
report.code(lines.joined(separator: "\n"), language: "text")
report.paragraph("""
    Read it bottom-up for values and top-down for gradients. tanh(n) = \(format(o.value)), so \
    ∂o/∂n = 1 − o² = \(format(1 - o.value * o.value)). Addition passes the gradient through \
    unchanged, so x₁w₁, x₂w₂ and b all get \(format(n.grad)). Multiplication swaps: \
    ∂o/∂w₁ = x₁ · \(format(x1w1.grad)) = \(format(w1.grad)) and ∂o/∂x₁ = w₁ · \(format(x1w1.grad)) = \
    \(format(x1.grad)). Since x₂ = 0, w₂ gets no gradient at all: changing w₂ does not change o.
    """)

// MARK: - Checking by finite differences

report.heading("Checking the chain rule with finite differences")
report.paragraph("""
    A derivative is a limit: ∂f/∂x ≈ (f(x + h) − f(x − h)) / 2h, the *central difference*, whose \
    error shrinks like h². It needs two evaluations per input — hopeless for training, perfect for \
    testing. Every backward rule of the tensor engine is tested this way. For the neuron:
    """)
func neuron(_ v: [Double]) -> Double { Foundation.tanh(v[0] * v[2] + v[1] * v[3] + v[4]) }
let point = [x1.value, x2.value, w1.value, w2.value, b.value]
let leaves = [x1, x2, w1, w2, b]
let h = 1e-5
var rows: [[String]] = []
for i in 0..<5 {
    var plus = point, minus = point
    plus[i] += h
    minus[i] -= h
    let numeric = (neuron(plus) - neuron(minus)) / (2 * h)
    rows.append([leaves[i].label, format(leaves[i].grad, 10), format(numeric, 10), scientific(abs(leaves[i].grad - numeric))])
}
report.table(headers: ["input", "backward()", "central difference (h = 1e-5)", "difference"], rows: rows,
             alignments: [.left, .right, .right, .right])

report.paragraph("""
    How small should h be? Too large and the h² truncation error dominates; too small and f(x + h) \
    and f(x − h) agree in almost all their digits, so their difference is mostly rounding error, \
    about ε·|f|/h, where ε is the machine epsilon (2.2e-16 for Double, 1.2e-7 for Float). The \
    figure sweeps h for ∂o/∂w₁ in both precisions (the mean error over 32 values of w₁ between \
    −3.5 and −2.5):
    """)
// Averaged over 32 points w₁ ∈ [−3.5, −2.5) so that no single lucky rounding hides the trend.
let sweepPoints = (0..<32).map { -3.5 + Double($0) / 32 }
var hs: [Double] = []
var doubleErrors: [Double] = []
var floatErrors: [Double] = []
var forwardErrors: [Double] = []
func neuronFloat(_ w: Float) -> Float { Foundation.tanh(Float(point[0]) * w + Float(point[1]) * Float(point[3]) + Float(point[4])) }
for k in stride(from: -12.0, through: -0.5, by: 0.25) {
    let step = Foundation.pow(10, k)
    var central = 0.0, forward = 0.0, centralFloat = 0.0
    for w in sweepPoints {
        var at = point
        at[2] = w
        let t = neuron(at)
        let exact = point[0] * (1 - t * t)           // ∂o/∂w₁ = x₁·(1 − o²)
        var plus = at, minus = at
        plus[2] += step
        minus[2] -= step
        central += abs((neuron(plus) - neuron(minus)) / (2 * step) - exact)
        forward += abs((neuron(plus) - t) / step - exact)
        // The same central difference computed in Float32 (divided by the step actually taken).
        let wf = Float(w), hf = Float(step)
        let taken = Double((wf + hf) - (wf - hf))
        let fd = taken == 0 ? 0 : Double(neuronFloat(wf + hf) - neuronFloat(wf - hf)) / taken
        centralFloat += abs(fd - exact)
    }
    hs.append(step)
    let count = Double(sweepPoints.count)
    doubleErrors.append(Swift.max(central / count, 1e-17))
    forwardErrors.append(Swift.max(forward / count, 1e-17))
    floatErrors.append(Swift.max(centralFloat / count, 1e-17))
}
var sweep = Plot(title: "error of the finite-difference estimate of ∂o/∂w₁", xLabel: "step h", yLabel: "mean |estimate − exact|",
                 logX: true, logY: true, legend: .below)
sweep.line(x: hs, y: doubleErrors, title: "central, Double", points: .circle)
sweep.line(x: hs, y: forwardErrors, title: "forward (f(x+h) − f(x))/h, Double", points: .triangle)
sweep.line(x: hs, y: floatErrors, title: "central, Float32", points: .square)
exitOnError { try report.figure(Figure(rows: 1, columns: 1, width: 800, height: 520, plots: [sweep]), name: "step-size",
                  caption: "Finite-difference error against the step h: truncation error falls to the right (slope 2 for central, 1 for forward differences), rounding error rises to the left.") }
let bestDouble = zip(hs, doubleErrors).min { $0.1 < $1.1 }!
let bestFloat = zip(hs, floatErrors).min { $0.1 < $1.1 }!
report.paragraph("""
    In Double the best step is about h = \(scientific(bestDouble.0)) (error \(scientific(bestDouble.1))); \
    in Float32, the precision our tensors use, it is about h = \(scientific(bestFloat.0)) (error \
    \(scientific(bestFloat.1))): eight decimal digits of precision leave only a few for the \
    derivative. `gradientCheck` sums many Float32 outputs into one number L, whose rounding error \
    grows with |L|, so it moves further right, to h = 1e-2, and accepts \
    |analytic − numeric| ≤ 1e-3 + 1e-3·|numeric|. The errors it measures on the test suite's \
    checks are 1e-6 to 1e-4; a wrong backward rule is off by the size of the gradient itself.
    """)

// MARK: - The tensor engine

report.heading("From scalars to tensors")
report.paragraph("""
    The tensor engine, `Variable`, is the same idea with a tensor in every node. The graph is much \
    smaller (one node per matrix multiply instead of one per multiplication) and each backward \
    rule is a tensor formula: for Y = X·W, ∂L/∂X = ∂L/∂Y·Wᵀ and ∂L/∂W = Xᵀ·∂L/∂Y. One new rule \
    appears: *broadcasting*. When a bias b of shape [3] is added to a batch of shape [4, 3], b is \
    used four times, so its gradient is the sum of the four rows of ∂L/∂Y (`summedToShape`).
    """)
var generator = TorchGenerator(seed: 0)
let layer = Linear(inputFeatures: 3, outputFeatures: 2, generator: &generator)
let input = Variable(generator.randn([4, 3]))
let output = layer(input).tanh().sum()
output.backward()
report.code("""
    var generator = TorchGenerator(seed: 0)
    let layer = Linear(inputFeatures: 3, outputFeatures: 2, generator: &generator)  // W [2, 3], b [2]
    let input = Variable(generator.randn([4, 3]))
    let loss = layer(input).tanh().sum()
    loss.backward()
    layer.bias!.grad = \(layer.bias!.grad!.scalars.map { format(Double($0)) })
    layer.weight.grad = \(layer.weight.grad!.scalars.map { format(Double($0)) })
    """, language: "text")
let check = gradientCheck([input.value, layer.weight.value, layer.bias!.value]) { v in
    (v[0].matmul(v[1].transposed()) + v[2]).tanh()
}
report.paragraph("""
    `gradientCheck` perturbs every element of the input, the weight and the bias in turn and \
    compares: \(check.passed ? "passed" : "FAILED"), largest difference \(scientific(check.maxAbsoluteError)). \
    The test suite (`Tests/AutogradTests`) runs this check for every backward rule — broadcasting \
    arithmetic, exp/log/tanh/SiLU/GELU, sums, means and maxima, reshapes, slices, concatenation, \
    padding, matrix products, convolutions, group and layer norm, softmax, attention, embeddings, \
    pooling and upsampling — and compares whole ResNet and attention blocks with PyTorch.
    """)

report.heading("Inference: recording nothing")
let recorded = layer(input).tanh()
let unrecorded = withoutGradients { layer(input).tanh() }
report.paragraph("""
    Recording costs memory: every node keeps the tensors its backward rule needs (here the input \
    of the matrix product and the output of tanh) until `backward()` has used them; then they are \
    released. At inference nothing is differentiated, so `withoutGradients { model(x) }` runs the \
    same layers without recording: the result `requiresGrad` is \(unrecorded.requiresGrad) (it is \
    \(recorded.requiresGrad) outside the scope), it has no parents, and every saved tensor is freed \
    as soon as the op returns. The values are identical: largest difference \
    \(maxDifference(recorded.value, unrecorded.value)).
    """)

report.heading("Recap")
report.paragraph("""
    - Reverse mode: compute forward, remembering how each value was made; then apply the chain \
    rule once per node, outputs first, adding where a value was used more than once.
    - Each op carries its backward rule next to its forward, so the rules can be checked one by \
    one — by finite differences with a step chosen for the precision (h ≈ 1e-5 in Double, 1e-2 in Float32).
    - The tensor engine is the scalar engine with tensor formulas and the broadcasting rule.
    """)
report.heading("Exercise")
report.paragraph("""
    Add `relu()` to `Scalar` (value max(a, 0), local derivative 1 for a > 0, else 0) and check it \
    with finite differences at a = 0.5 and a = −0.5. What does the central difference give at \
    a = 0, and why does the tensor engine's test keep its inputs more than h away from 0?
    """)
exitOnError { try report.write() }
