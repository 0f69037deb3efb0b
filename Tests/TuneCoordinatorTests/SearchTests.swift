import Testing
import TuneCore
import TuneSearch

@Suite struct RandomSearchBehaviour {
    struct Grown: ScheduleSpace {
        let knobs = [KnobDomain("a", [1, 2, 3, 4]), KnobDomain("k", [1, 2], absentMeans: 1)]
        func constraintViolation(_ s: Schedule) -> String? { nil }
    }

    func context(_ space: any ScheduleSpace, generated: Set<String>) throws -> SearchContext {
        SearchContext(task: try TaskSpec(op: .elementwise, params: ["n": 16]), device: DeviceProfile(deviceClass: .cpu, model: "x"),
                      threads: 1, space: space, generated: generated, model: nil)
    }

    /// A job resumed across a space upgrade: its stored schedules lack the new knob, and
    /// the search must not measure the same points again under their new spelling.
    @Test func schedulesStoredBeforeAKnobExistedAreNotProposedAgain() throws {
        let stored = Set([1, 2, 3, 4].map { Schedule(["a": $0]).hash64 })
        var search = RandomSearch(seed: 3)
        let fresh = search.propose(count: 8, context: try context(Grown(), generated: stored)).map(\.schedule)
        #expect(fresh.count == 4, "only the k=2 points are new: \(fresh.map(\.encoding))")
        #expect(fresh.allSatisfy { $0["k"] == 2 })
        #expect(Set(fresh.map(\.hash64)).count == fresh.count)
    }

    @Test func theSameSeedDrawsTheSameSchedules() throws {
        var a = RandomSearch(seed: 9), b = RandomSearch(seed: 9), c = RandomSearch(seed: 10)
        let ctx = try context(Grown(), generated: [])
        let x = a.propose(count: 5, context: ctx), y = b.propose(count: 5, context: ctx), z = c.propose(count: 5, context: ctx)
        #expect(x == y)
        #expect(x != z)
        #expect(x.allSatisfy { $0.provenance == Provenance(proposer: "random") })
    }
}

@Suite struct RoundRobinScheduling {
    @Test func aCampaignBudgetIsSharedEquallyAndNeverExceeded() throws {
        var s = RoundRobinScheduler()
        let a = s.allocate([try progress(1, flops: 8, budget: 100, generated: 4), try progress(2, flops: 8, budget: 100),
                            try progress(3, flops: 8, budget: 100, generated: 2)], room: 6)
        #expect(a.values.reduce(0) { $0 + $1.quota } == 6)
        #expect(a[2]!.quota == 4 && a[3]!.quota == 2 && a[1]!.quota == 0, "the least tried first")
    }

    /// Under a budget a heavy job that has had its turn waits for the light ones: a campaign
    /// stopped by its clock then has every task measured (the old rule served the heaviest
    /// job's refills first, and a time-limited ResNet-50 campaign measured 2 of 24 tasks).
    @Test func underABudgetTheLeastTriedDispatchFirstAndTiesGoToTheHeavier() throws {
        var s = RoundRobinScheduler()
        let a = s.allocate([try progress(1, flops: 512, budget: 1000, generated: 16), try progress(2, flops: 8, budget: 1000),
                            try progress(3, flops: 64, budget: 1000)], room: 1000)
        #expect(a[2]!.priority > a[1]!.priority && a[3]!.priority > a[1]!.priority, "the heavy job has had a turn")
        #expect(a[3]!.priority > a[2]!.priority, "equally tried: the heavier first")
        let even = s.allocate([try progress(1, flops: 512, budget: 1000, generated: 16), try progress(2, flops: 8, budget: 1000, generated: 16)],
                              room: 1000)
        #expect(even[1]!.priority > even[2]!.priority)
    }

    func progress(_ id: Int64, flops m: Int, weight: Int = 1, budget: Int = 10, generated: Int = 0, queued: Int = 0) throws -> JobProgress {
        JobProgress(jobID: id, campaignID: 1, task: try TaskSpec(op: .matmul, params: ["m": m, "n": 8, "k": 8]), weight: weight,
                    deviceClass: .cpu, budget: budget, generated: generated, measured: 0, queued: queued, inFlight: 0,
                    batchSize: 4, bestSeconds: nil)
    }

    /// Today's rule: top up to two batches once less than one waits, within the budget.
    @Test func topsUpToTwoBatchesWithinTheBudget() throws {
        var s = RoundRobinScheduler()
        let a = s.allocate([try progress(1, flops: 8, queued: 0), try progress(2, flops: 8, queued: 3),
                            try progress(3, flops: 8, queued: 4), try progress(4, flops: 8, budget: 10, generated: 8, queued: 0)], room: nil)
        #expect(a[1]?.quota == 8)
        #expect(a[2]?.quota == 5)
        #expect(a[3]?.quota == 0)
        #expect(a[4]?.quota == 2)
    }

    @Test func heavierJobsGoFirst() throws {
        var s = RoundRobinScheduler()
        let a = s.allocate([try progress(1, flops: 8, weight: 3), try progress(2, flops: 64)], room: nil)
        #expect(a[2]!.priority > a[1]!.priority)
        let expected: Double = 2 * 8 * 8 * 8 * 3
        #expect(a[1]!.priority == expected)
    }
}
