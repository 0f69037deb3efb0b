import Testing
import TuneCore
@testable import TuneCoordinator

@Suite struct RandomSearchBehaviour {
    struct Grown: ScheduleSpace {
        let knobs = [KnobDomain("a", [1, 2, 3, 4]), KnobDomain("k", [1, 2], absentMeans: 1)]
        func constraintViolation(_ s: Schedule) -> String? { nil }
    }

    /// A job resumed across a space upgrade: its stored schedules lack the new knob, and
    /// the search must not measure the same points again under their new spelling.
    @Test func schedulesStoredBeforeAKnobExistedAreNotProposedAgain() {
        let stored = Set([1, 2, 3, 4].map { Schedule(["a": $0]).hash64 })
        var rng = SplitMix64(seed: 3)
        let fresh = RandomSearch().propose(space: Grown(), count: 8, seen: stored, rng: &rng)
        #expect(fresh.count == 4, "only the k=2 points are new: \(fresh.map(\.encoding))")
        #expect(fresh.allSatisfy { $0["k"] == 2 })
        #expect(Set(fresh.map(\.hash64)).count == fresh.count)
    }
}
