// Lesson 01: tensors, and the matrix-multiply ladder.
//
// Narrates, measures and plots; the rungs themselves live in LessonKit/MatmulLadder.swift
// (tested against the naive loops) and the last rung is the library's `Tensor.matmul`.
// Writes the page 01-tensors.md with its figure and data to out/lesson-01/ (`--out DIR`),
// or to docs/lessons/ with `--docs` (the committed page). Runs in about half a minute in release
// on two cores: `swift run -c release lesson-01-tensors`.

import Foundation
import LessonKit
import Tensor

let output = LessonOutputOptions.parseCommandLine()
let report = output.report(lesson: "lesson-01-tensors", slug: "01-tensors", title: "Lesson 01: tensors and the matrix-multiply ladder")

// MARK: - Tensors

report.heading("A tensor is a shape, strides and a buffer")
report.paragraph("""
    Everything in this project is built on one type, `Tensor`: a flat buffer of `Float` numbers \
    plus a *shape* (how many elements along each axis) and *strides* (how far to jump in the buffer \
    to move one step along each axis). Element `[i, j]` of a matrix lives at `offset + i*strides[0] + j*strides[1]`.
    """)
let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
let tT = t.transposed(0, 1)
report.code("""
    let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    t.shape = \(t.shape), t.strides = \(t.strides)
    let tT = t.transposed(0, 1)
    tT.shape = \(tT.shape), tT.strides = \(tT.strides), same buffer: \(tT.storage === t.storage)
    tT.scalars = \(tT.scalars)
    """, language: "text")
report.paragraph("""
    Transposing copied nothing: it swapped the strides. Many operations are like that (reshape, \
    slice, broadcast). The one operation that does real work, and that a diffusion model spends \
    almost all of its time in, is the **matrix multiply**: C = A·B with C[i, j] = Σₚ A[i, p]·B[p, j]. \
    For A of shape [M, K] and B of shape [K, N] it takes M·N·K multiplications and as many additions: \
    2·M·N·K floating-point operations (FLOPs). We measure speed in GFLOP/s, billions of FLOPs per second.
    """)

// MARK: - The ladder

report.heading("The ladder")
report.paragraph("""
    We climb from the textbook loops to a fast kernel in small steps. Every rung computes the same \
    product; each is checked against the rung before it and timed. Floating-point addition is not \
    associative, so rungs that add in a different order differ in the last bits. We accept a \
    difference when it is below the rounding bound 2·γ_K·(|A|·|B|), with γ_K = K·u/(1−K·u) and \
    u = 2⁻²⁴ (Higham, *Accuracy and Stability of Numerical Algorithms*, eq. 3.13).
    """)

let threads = Parallel.threadCount
let cpu = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8))?
    .split(separator: "\n").first { $0.hasPrefix("model name") }?
    .split(separator: ":").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown CPU"
let load = (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8))?
    .split(separator: " ").first.map(String.init) ?? "?"
report.paragraph("""
    Each rung runs once to warm up, then 5 timed runs (3 for the naive loops and at size 2048); \
    we report the median, and at 512 also the fastest run, on \(cpu) with \(threads) threads. \
    Timings are noisy when other programs run at the same time (the load average was \(load) when \
    this page was made, for \(ProcessInfo.processInfo.activeProcessorCount) cores): other processes can \
    only slow a run down, so the fastest run is the better guess of what the code does on a quiet machine.
    """)

/// A rung: its name, what it changes, and the function.
struct Rung {
    let name: String
    let idea: String
    let snippet: String
    let run: (Tensor, Tensor) -> Tensor
}

let rungs: [Rung] = [
    Rung(name: "1 naive", idea: """
        **Rung 1, naive loops.** The definition, written directly. The innermost loop walks down a \
        *column* of B: consecutive reads are N floats apart, so nearly every read fetches a new \
        64-byte cache line from a slower cache level (or from memory) and uses 4 bytes of it.
        """, snippet: """
        for i in 0..<m { for j in 0..<n {
            var sum: Float = 0
            for p in 0..<k { sum += a[i * k + p] * b[p * n + j] }
            c[i * n + j] = sum
        } }
        """, run: MatmulLadder.naive),
    Rung(name: "2 loops in memory order", idea: """
        **Rung 2, loops in memory order.** Swap the two inner loops (i-p-j). Now the innermost loop \
        reads a *row* of B and updates a row of C, both contiguous, so every byte of each cache line \
        is used. The arithmetic is identical. The gain is modest because the loop is still \
        scalar: in the compiled code (`objdump -d`) it is one `vmulss` and one `vaddss` per \
        element, with a bounds check on every array access, so memory order alone cannot make it fast.
        """, snippet: """
        for i in 0..<m { for p in 0..<k {
            let aip = a[i * k + p]
            for j in 0..<n { c[i * n + j] += aip * b[p * n + j] }
        } }
        """, run: MatmulLadder.reordered),
    Rung(name: "3 SIMD16", idea: """
        **Rung 3, SIMD.** The CPU can multiply and add 16 floats in one instruction (AVX-512 fused \
        multiply-add). `SIMD16<Float>` says so explicitly: the inner loop now handles 16 columns at \
        a time, through raw pointers with no bounds checks, and the multiply and add are fused \
        into one instruction (`vfmadd`).
        """, snippet: """
        let broadcast = SIMD16<Float>(repeating: aip)
        while j + 16 <= n {
            var acc = load16(cRow + j)
            acc.addProduct(broadcast, load16(bRow + j))   // 16 multiply-adds
            store16(acc, cRow + j); j += 16
        }
        """, run: MatmulLadder.simd),
    Rung(name: "4 blocked + packed", idea: """
        **Rung 4, blocking, packing and a register tile.** Rung 3 still reads and writes a row of C \
        for every single multiply-add, and streams all of B from memory once per row of A. The fix \
        (Goto & van de Geijn, 2008) is the structure every BLAS library uses: cut B into blocks of \
        256 x 2048 and A into blocks of 96 x 256 that fit in the caches, copy (\"pack\") each block \
        into the exact order the inner kernel reads it, and let a *micro-kernel* keep a 6 x 32 tile \
        of C in 12 SIMD registers for the whole depth of the block. Each value loaded now feeds 6 or \
        32 multiply-adds instead of one.
        """, snippet: """
        for _ in 0..<depth {                       // one step along K
            let b0 = load16(pb), b1 = load16(pb + 16)   // 32 columns of packed B
            var s = SIMD16<Float>(repeating: pa[0]); c00.addProduct(s, b0); c01.addProduct(s, b1)
            s = SIMD16<Float>(repeating: pa[1]); c10.addProduct(s, b0); c11.addProduct(s, b1)
            // ... rows 2 to 5 the same: 12 accumulators stay in registers
            pa += 6; pb += 32
        }
        """, run: { MatmulLadder.blocked($0, $1) }),
    Rung(name: "5 threads", idea: """
        **Rung 5, threads.** The same code, with the row panels of A handed out to \(threads) \
        threads by `parallelFor`. Each thread packs its own rows of A and writes its own rows of C, \
        so no two threads ever write the same memory; the packed block of B is shared, read-only.
        """, snippet: """
        parallelFor(chunking: rowPanels) { panels in   // each thread: its own rows of C
            for ic in stride(from: firstRow, to: endRow, by: mc) { packA(...); microKernels(...) }
        }
        """, run: { MatmulLadder.threaded($0, $1) }),
    Rung(name: "6 Tensor.matmul", idea: """
        **Rung 6, the library.** `Tensor.matmul` (Sources/Tensor/Kernels) is rung 5 grown up: a \
        12 x 32 register tile (24 of the 32 AVX-512 registers), several micro-kernel shapes for the \
        edges, strided operands read without copies, batches, and the same `parallelFor`.
        """, snippet: """
        let c = a.matmul(b)
        """, run: { $0.matmul($1) }),
]

/// Times `rung` on `a`·`b`; keeps the result so the work cannot be optimized away.
func time(_ rung: Rung, _ a: Tensor, _ b: Tensor, repetitions: Int = 5) -> (samples: TimingSamples, result: Tensor) {
    var result = Tensor(0)
    let samples = Timing.measure(repetitions: repetitions) { result = rung.run(a, b) }
    return (samples, result)
}

func format(_ x: Double, _ digits: Int) -> String { format(x, digits: digits) }
func format(_ x: Double) -> String { format(x, digits: 1) }
func scientific(_ x: Double) -> String { String(format: "%.1e", x) }

// Every rung at 512 x 512 x 512: small enough for the naive loops (about a quarter of a second).
let size = 512
let a = MatmulLadder.randomMatrix(rows: size, columns: size, seed: 1)
let b = MatmulLadder.randomMatrix(rows: size, columns: size, seed: 2)
let bound = MatmulLadder.errorBound(a, b).scalars
let flops = MatmulLadder.flops(m: size, k: size, n: size)
report.paragraph("""
    A and B are \(size) x \(size) matrices of random numbers in [−1, 1) (seeded). The naive loops are \
    slow enough that this is the largest size we give them; the fast rungs get bigger matrices below.
    """)

var gflops: [Double] = []
var rows: [[String]] = []
var previous: Tensor?
for rung in rungs {
    report.paragraph(rung.idea)
    report.code(rung.snippet, language: "swift")
    let (samples, result) = time(rung, a, b, repetitions: rung.name.hasPrefix("1") ? 3 : 5)
    let seconds = samples.median
    let rate = flops / seconds / 1e9
    let bestRate = flops / samples.minimum / 1e9
    var check = "reference"
    if let previous {
        let difference = zip(result.scalars, previous.scalars).map { abs($0 - $1) }
        let worst = difference.max() ?? 0
        let inside = zip(difference, bound).allSatisfy { $0 <= $1 }
        precondition(inside, "\(rung.name) disagrees with the previous rung beyond the rounding bound")
        check = scientific(Double(worst))
    }
    previous = result
    gflops.append(rate)
    let speedup = rate / gflops[0]
    rows.append([rung.name, format(seconds * 1000, 2), format(rate), format(bestRate), format(speedup, 0) + "x", check])
    report.paragraph("→ median \(format(seconds * 1000, 2)) ms, **\(format(rate)) GFLOP/s** (fastest run \(format(bestRate)))"
        + (check == "reference" ? "." : ", max |difference| from the previous rung \(check) (within the rounding bound)."))
}

report.heading("Results at 512 x 512 x 512")
let worstBound = bound.max() ?? 0
report.table(headers: ["rung", "median ms", "median GFLOP/s", "best GFLOP/s", "median vs naive", "max abs diff vs previous"],
             rows: rows, alignments: [.left, .right, .right, .right, .right, .right])
report.paragraph("Every difference is inside the per-element rounding bound (its largest value here is \(scientific(Double(worstBound)))).")
let exact = zip(rungs.indices, rows).filter { $0.0 > 0 && $0.1[5] == scientific(0) }.map { "\($0.0 + 1)" }
if !exact.isEmpty {
    report.paragraph("""
        Rung\(exact.count > 1 ? "s" : "") \(exact.joined(separator: " and ")) agree\(exact.count > 1 ? "" : "s") \
        with the rung before *exactly*: they perform the same \
        additions in the same order, only the memory traffic or the thread changed. The other rungs \
        add in a different order (16 lanes at a time, or in blocks of K), so the last bits move.
        """)
}

// MARK: - Bigger matrices

report.heading("Bigger matrices")
report.paragraph("""
    At 512 the whole problem fits in the caches, which flatters the simple rungs. Here are the \
    fast rungs (3 to 6) on square matrices from 128 to 2048; at each size every rung is again \
    checked against the one before it.
    """)
let sweepSizes = [128, 256, 512, 1024, 2048]
let fastRungs = Array(rungs[2...])
var sweep = [[Double]](repeating: [], count: fastRungs.count)
var csv = CSVTable(header: ["rung", "size", "milliseconds", "gflops"])
for (rung, rate) in zip(rungs, gflops) {
    csv.append([rung.name, "\(size)", format(flops / rate / 1e6, 4), "\(rate)"])
}
let progress = ProgressBar(total: sweepSizes.count * fastRungs.count, label: "sizes")
var sweepRows: [[String]] = []
for n in sweepSizes {
    let x = MatmulLadder.randomMatrix(rows: n, columns: n, seed: 3)
    let y = MatmulLadder.randomMatrix(rows: n, columns: n, seed: 4)
    // |a|, |b| < 1, so (|A|·|B|)[i, j] < K and 2·γ_K·K bounds every element's difference.
    let u = 0x1p-24 as Double
    let looseBound = 2 * (Double(n) * u / (1 - Double(n) * u)) * Double(n)
    var last: Tensor?
    var row = ["\(n)"]
    for (index, rung) in fastRungs.enumerated() {
        let (samples, result) = time(rung, x, y, repetitions: n >= 2048 ? 3 : 5)
        let seconds = samples.median
        if let last {
            let worst = MatmulLadder.maxAbsDifference(result, last)
            precondition(Double(worst) <= looseBound, "\(rung.name) disagrees at \(n): \(worst) > \(looseBound)")
        }
        last = result
        let rate = MatmulLadder.flops(m: n, k: n, n: n) / seconds / 1e9
        sweep[index].append(rate)
        row.append(format(rate))
        csv.append([rung.name, "\(n)", format(seconds * 1000, 4), "\(rate)"])
        progress.advance(message: "\(n)³ \(rung.name)")
    }
    sweepRows.append(row)
}
progress.finish()
report.table(headers: ["size"] + fastRungs.map { "\($0.name) (median GFLOP/s)" }, rows: sweepRows,
             alignments: [.right] + fastRungs.map { _ in .right })
let last = sweepSizes.count - 1
report.paragraph("""
    From 256 to 2048, rung 3 goes from \(format(sweep[0][1])) to \(format(sweep[0][last])) GFLOP/s \
    and rung 4 from \(format(sweep[1][1])) to \(format(sweep[1][last])). A 2048 x 2048 B is 16 MiB, \
    far more than the caches hold, and rung 3 reads all of it from memory once per row of A; \
    the blocked rungs read each packed block of B from the cache many times, so they should \
    lose far less.
    """)
let threadGain = sweep[2][last] / sweep[1][last]
report.paragraph("""
    At 2048, \(threads) threads (rung 5) ran \(format(threadGain, 2)) times as fast as one (rung 4). \
    On an idle machine with two free cores that ratio approaches 2. When it is much lower, as it can \
    be on this shared machine (load average \(load) at the start), other processes were using the \
    cores: threads can only multiply the work of cores that are free.
    """)

// MARK: - Figure

var bars = Plot(title: "every rung at 512³ (median)", yLabel: "GFLOP/s (log scale)", logY: true,
                xTickRotation: 25, legend: .hidden)
bars.bars(categories: rungs.map(\.name), values: gflops, color: "#1f77b4")
bars.yRange = 0.1...(max(1000, (gflops.max() ?? 1) * 2))
var lines = Plot(title: "fast rungs by size (median)", xLabel: "matrix size N (N x N times N x N)",
                 yLabel: "GFLOP/s", xRange: 100...2600, logX: true, legend: .below)
for (index, rung) in fastRungs.enumerated() {
    lines.line(x: sweepSizes.map(Double.init), y: sweep[index], title: rung.name,
               points: [.circle, .square, .triangle, .diamond][index % 4])
}
lines.xTicks = sweepSizes.map { Tick(Double($0), "\($0)") }
let figure = Figure(rows: 1, columns: 2, width: 1100, height: 460, plots: [bars, lines])
exitOnError { try report.figure(figure, name: "gflops", caption: "Speed of each rung (GFLOP/s): left, all rungs at 512³ on a log scale; right, the fast rungs as the matrices grow.") }
let csvURL = report.figuresDirectory.appendingPathComponent("timings.csv")
exitOnError { try csv.write(to: csvURL) }
report.paragraph("The measurements are in [figures/01-tensors/timings.csv](figures/01-tensors/timings.csv).")

// MARK: - Recap and exercise

report.heading("Recap")
let best = gflops.last ?? 0
let gains = (1..<gflops.count).map { "rung \($0 + 1) \(format(gflops[$0] / gflops[$0 - 1], 1))x" }
let bigSteps = (1..<gflops.count).filter { gflops[$0] / gflops[$0 - 1] >= 2 }.map { "rung \($0 + 1)" }
report.paragraph("""
    - A tensor is a buffer plus shape and strides; views such as a transpose change the strides, not the data.
    - The same 2·N³ operations ran about \(format(best / gflops[0], 0)) times faster from rung 1 to rung 6, \
    without changing a single result beyond rounding.
    - Each rung's gain over the one before, at 512³: \(gains.joined(separator: ", ")). \
    \(bigSteps.isEmpty ? "No rung gained 2x or more over the one before." : "The big steps (2x or more) are \(bigSteps.joined(separator: " and ")).") \
    Memory order alone (rung 2) helps little while the loop is scalar; it pays once 16 operations run per \
    instruction (rung 3) and every loaded number is re-used from registers and caches (rung 4). Threads \
    multiply what one core does; they cannot fix a slow core loop.
    - Every fast rung was checked against a slower, obviously correct one. The tests \
    (`Tests/LessonKitTests/MatmulLadderTests.swift`) do the same on ragged sizes.
    """)
report.heading("Exercise")
report.paragraph("""
    Change the micro-kernel of rung 4 (`MatmulLadder.microKernel` in \
    `Sources/Lessons/LessonKit/MatmulLadder.swift`) from a 6 x 32 tile to a 4 x 32 tile, and then to an \
    8 x 32 tile (update `tileRows` and `packA` too). Run `swift test -c release --filter MatmulLadder` to \
    check it, and this lesson to time it. Which tile is fastest, and why does a tile that needs more \
    than 32 vector registers get slower? (Hint: count the accumulators, the two B vectors and the broadcast.)
    """)
exitOnError { try report.write() }
