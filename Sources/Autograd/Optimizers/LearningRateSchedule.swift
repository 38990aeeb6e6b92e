// Learning-rate schedules as pure functions of the step number (step 0 is the first update),
// each equal to the closed form of its `torch.optim.lr_scheduler` counterpart.

import Foundation

/// A learning rate as a function of the optimizer step.
public protocol LearningRateSchedule: Sendable {
    /// The learning rate for update number `step` (0-based).
    func learningRate(at step: Int) -> Float
}

/// A constant learning rate.
public struct ConstantSchedule: LearningRateSchedule {
    /// The rate.
    public var rate: Float
    /// Creates a constant schedule.
    public init(_ rate: Float) { self.rate = rate }
    /// Always `rate`.
    public func learningRate(at step: Int) -> Float { rate }
}

/// Linear warmup from `startFactor`·base to base over `warmupSteps` steps, then `schedule`
/// (which starts counting at the end of the warmup). The warmup equals `torch.optim.lr_scheduler.
/// LinearLR(start_factor, end_factor=1, total_iters=warmupSteps)`: factor = s + (1 − s)·min(t, W)/W.
public struct LinearWarmup<Schedule: LearningRateSchedule>: LearningRateSchedule {
    /// The number of warmup steps W.
    public var warmupSteps: Int
    /// The factor s of the first step.
    public var startFactor: Double
    /// The schedule after warmup.
    public var schedule: Schedule

    /// Creates a warmup in front of `schedule`.
    public init(warmupSteps: Int, startFactor: Double = 1.0 / 3.0, then schedule: Schedule) {
        precondition(warmupSteps > 0 && startFactor > 0 && startFactor <= 1, "LinearWarmup: need warmupSteps > 0 and 0 < startFactor ≤ 1")
        self.warmupSteps = warmupSteps
        self.startFactor = startFactor
        self.schedule = schedule
    }

    /// The warmup factor times the base rate during warmup; afterwards the wrapped schedule.
    public func learningRate(at step: Int) -> Float {
        if step >= warmupSteps { return schedule.learningRate(at: step - warmupSteps) }
        let factor = startFactor + (1 - startFactor) * Double(step) / Double(warmupSteps)
        return Float(Double(schedule.learningRate(at: 0)) * factor)
    }
}

/// `schedule`'s first rate held for `holdSteps` steps, then `schedule` (which starts counting at
/// the end of the hold): a cosine decay that begins after a constant phase, for example.
public struct HoldThen<Schedule: LearningRateSchedule>: LearningRateSchedule {
    /// The number of steps at `schedule`'s first rate.
    public var holdSteps: Int
    /// The schedule after the hold.
    public var schedule: Schedule

    /// Creates a hold in front of `schedule`.
    public init(holdSteps: Int, then schedule: Schedule) {
        precondition(holdSteps >= 0, "HoldThen: holdSteps must be >= 0")
        self.holdSteps = holdSteps
        self.schedule = schedule
    }

    /// `schedule` at step max(0, step − holdSteps).
    public func learningRate(at step: Int) -> Float {
        schedule.learningRate(at: Swift.max(0, step - holdSteps))
    }
}

/// Cosine annealing (Loshchilov & Hutter 2017, SGDR eq. 5 without restarts), the closed form of
/// `torch.optim.lr_scheduler.CosineAnnealingLR`: η_t = η_min + (η₀ − η_min)·(1 + cos(π·t/T))/2.
/// After T steps the rate stays at η_min.
public struct CosineSchedule: LearningRateSchedule {
    /// The initial rate η₀.
    public var baseRate: Float
    /// The number of steps T to reach the minimum.
    public var totalSteps: Int
    /// The final rate η_min.
    public var minimumRate: Float

    /// Creates a cosine schedule.
    public init(baseRate: Float, totalSteps: Int, minimumRate: Float = 0) {
        precondition(totalSteps > 0, "CosineSchedule: totalSteps must be positive")
        self.baseRate = baseRate
        self.totalSteps = totalSteps
        self.minimumRate = minimumRate
    }

    /// η_t as above.
    public func learningRate(at step: Int) -> Float {
        let t = Double(Swift.min(step, totalSteps)) / Double(totalSteps)
        let lo = Double(minimumRate), hi = Double(baseRate)
        return Float(lo + (hi - lo) * (1 + Foundation.cos(Double.pi * t)) / 2)
    }
}

/// The one-cycle policy (Smith & Topin 2018) as `torch.optim.lr_scheduler.OneCycleLR` with
/// cosine annealing and two phases: from maxRate/divFactor up to maxRate over the first
/// `pctStart` of the steps, then down to maxRate/(divFactor·finalDivFactor).
public struct OneCycleSchedule: LearningRateSchedule {
    /// The peak rate.
    public var maxRate: Float
    /// The total number of steps.
    public var totalSteps: Int
    /// The fraction of steps spent increasing the rate.
    public var pctStart: Double
    /// initial rate = maxRate / divFactor.
    public var divFactor: Double
    /// final rate = initial rate / finalDivFactor.
    public var finalDivFactor: Double

    /// Creates a one-cycle schedule with torch's defaults.
    public init(maxRate: Float, totalSteps: Int, pctStart: Double = 0.3, divFactor: Double = 25, finalDivFactor: Double = 1e4) {
        precondition(totalSteps > 1, "OneCycleSchedule: totalSteps must be at least 2")
        self.maxRate = maxRate
        self.totalSteps = totalSteps
        self.pctStart = pctStart
        self.divFactor = divFactor
        self.finalDivFactor = finalDivFactor
    }

    /// torch's `_annealing_cos`: end + (start − end)/2·(cos(π·pct) + 1).
    private func annealingCos(_ start: Double, _ end: Double, _ pct: Double) -> Double {
        end + (start - end) / 2 * (Foundation.cos(Double.pi * pct) + 1)
    }

    /// The rate at `step`, phase by phase as in torch (phase ends at pctStart·T − 1 and T − 1).
    public func learningRate(at step: Int) -> Float {
        let peak = Double(maxRate)
        let initial = peak / divFactor, final = initial / finalDivFactor
        let phaseEnd = pctStart * Double(totalSteps) - 1
        let t = Double(step)
        if t <= phaseEnd {
            return Float(annealingCos(initial, peak, t / phaseEnd))
        }
        let end2 = Double(totalSteps - 1)
        return Float(annealingCos(peak, final, (t - phaseEnd) / (end2 - phaseEnd)))
    }
}
