import Diffusion
import Testing

@Test func sigmaScheduleRejectsUnknownName() {
    #expect(throws: DiffusionError.self) { try SigmaSchedule(named: "nope") }
}
