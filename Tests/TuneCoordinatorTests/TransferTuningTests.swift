import Testing
import TuneCore
import TuneSearch
import TuneSpaces

@Suite struct TransferTuningBehaviour {
    var avx512: DeviceProfile {
        var p = DeviceProfile(deviceClass: .cpu, model: "Xeon"); p.cores = 2; p.threads = 2; p.vectorBits = 512
        p.isa = ["sse4_2", "avx", "avx2", "fma", "avx512f"]; p.l1dBytes = 48 << 10; p.l2Bytes = 2 << 20; p.l3Bytes = 300 << 20
        p.peakGFLOPS = 268; return p
    }
    var sse: DeviceProfile {
        var p = DeviceProfile(deviceClass: .cpu, model: "Old"); p.cores = 4; p.threads = 4; p.vectorBits = 128
        p.isa = ["sse4_2"]; p.l1dBytes = 32 << 10; p.l2Bytes = 256 << 10; p.l3Bytes = 8 << 20; p.peakGFLOPS = 100; return p
    }
    let task = try! TaskSpec(op: .matmul, params: ["m": 128, "n": 768, "k": 768])
    let similar = try! TaskSpec(op: .matmul, params: ["m": 128, "n": 1024, "k": 768])
    let far = try! TaskSpec(op: .matmul, params: ["m": 8, "n": 64, "k": 4096])

    /// The best schedules of an AVX-512 machine, moved to an SSE one whose space has other
    /// vector widths: every proposal is valid there and new to the job.
    @Test func proposalsAreValidInTheTargetSpaceAndNewToTheJob() throws {
        let source = try #require(SpaceCatalog.space(for: task, device: avx512, threads: 1))
        let target = try #require(SpaceCatalog.space(for: task, device: sse, threads: 1))
        var rng = SplitMix64(seed: 4)
        var records: [TuningRecord] = []
        for (i, t) in [task, similar, far].enumerated() {
            for j in 0..<6 {
                let s = try #require(source.sample(using: &rng))
                records.append(TuningRecord(jobID: Int64(i + 1), candidateID: Int64(j), task: t, schedule: s, device: avx512.fingerprint,
                                            deviceClass: .cpu, threads: 1, status: .ok, medianSeconds: Double(j + 1) * 1e-3,
                                            provenance: Provenance(proposer: "random")))
            }
        }
        let untranslatable = records.filter { (try? target.validate($0.schedule)) == nil }
        #expect(!untranslatable.isEmpty, "the source space has schedules the target cannot run as they are")
        let sources = TransferTuning.sources(records, profiles: [avx512.fingerprint: avx512], perGroup: 2)
        #expect(sources.count == 6, "two best of each of three groups")
        let taken = Set([sources[0].record.schedule].compactMap { TransferTuning.translate($0, to: target)?.hash64 })
        let ctx = SearchContext(task: task, device: sse, threads: 1, space: target, generated: taken, model: nil)
        let proposals = TransferTuning.proposals(sources, context: ctx, limit: 10)
        #expect(!proposals.isEmpty)
        for p in proposals { #expect(throws: Never.self) { try target.validate(p) } }
        #expect(proposals.allSatisfy { !taken.contains($0.hash64) }, "never one the job already generated")
        #expect(Set(proposals.map(\.hash64)).count == proposals.count)
        // Most similar first: the same task (on another device) before a far shape.
        let ranked = TransferTuning.rank(sources, task: task, device: sse)
        #expect(ranked.first?.record.task == task && ranked.last?.record.task == far)
        // The evolutionary search puts them in the job's first batch, and only the first.
        let fresh = SearchContext(task: task, device: sse, threads: 1, space: target, generated: [], model: nil)
        let available = TransferTuning.proposals(sources, context: fresh, limit: 10).count
        #expect(available >= 2)
        var search = EvolutionarySearch(seed: 1, sources: sources)
        let first = search.propose(count: 8, context: fresh)
        #expect(first.count == 8 && first.filter { $0.provenance.proposer == "transfer" }.count == min(4, available))
        #expect(first.allSatisfy { (try? target.validate($0.schedule)) != nil })
        let second = search.propose(count: 8, context: SearchContext(task: task, device: sse, threads: 1, space: target,
                                                                     generated: Set(first.map(\.schedule.hash64)), model: nil))
        #expect(second.allSatisfy { $0.provenance.proposer != "transfer" })
    }

    /// The same task tuned earlier on the same device comes first, then nearer thread counts;
    /// a schedule in a group twice (a database's copy of a shipped record) is taken once.
    @Test func rankingPrefersTheSameTaskDeviceAndThreadsAndTakesEachScheduleOnce() throws {
        func record(_ t: TaskSpec, _ device: DeviceProfile, threads: Int, _ mr: Int, _ seconds: Double, job: Int64 = 1) -> TransferSource {
            TransferSource(record: TuningRecord(jobID: job, candidateID: Int64(mr * 100 + threads), task: t, schedule: Schedule(["mr": mr]),
                                                device: device.fingerprint, deviceClass: .cpu, threads: threads, status: .ok,
                                                medianSeconds: seconds, provenance: Provenance(proposer: "random")),
                           profile: device)
        }
        let sources = [
            record(similar, avx512, threads: 1, 1, 1e-3),
            record(task, sse, threads: 4, 2, 1e-3),
            record(task, avx512, threads: 4, 3, 1e-3),
            record(task, avx512, threads: 1, 4, 2e-3),
            record(task, avx512, threads: 1, 5, 3e-3), record(task, avx512, threads: 1, 5, 3e-3, job: 9),
            record(task, avx512, threads: 1, 6, 4e-3),
        ]
        let ranked = TransferTuning.rank(sources, task: task, device: avx512, threads: 1).map { $0.record.schedule["mr"]! }
        #expect(ranked == [4, 5, 1, 3, 2], "same task, device and threads (its two fastest, the copy once); a near shape; 4 threads; another device")
        #expect(TransferTuning.rank(sources, task: task, device: avx512, threads: 4).first?.record.schedule["mr"] == 3)
        let stored = TransferTuning.sources(sources.map(\.record), profiles: [avx512.fingerprint: avx512], perGroup: 2)
        #expect(stored.map { $0.record.schedule["mr"]! } == [1, 4, 5, 3], "sse's record has no profile; groups by task name, device, threads")
    }

    @Test func translationSnapsValuesByRatioAndFillsMissingKnobs() {
        struct Space: ScheduleSpace {
            let knobs = [KnobDomain("tile", [1, 4, 16, 64]), KnobDomain("unroll", [1, 2], absentMeans: 1), KnobDomain("vec", [4, 8])]
            func constraintViolation(_ s: Schedule) -> String? { s["tile"] == 64 && s["vec"] == 8 ? "too big" : nil }
        }
        #expect(TransferTuning.translate(Schedule(["tile": 48, "vec": 16, "gone": 3]), to: Space()) == nil, "64 x 8 breaks a constraint")
        #expect(TransferTuning.translate(Schedule(["tile": 12, "vec": 16]), to: Space()) == Schedule(["tile": 16, "unroll": 1, "vec": 8]))
        #expect(TransferTuning.translate(Schedule(["tile": 3]), to: Space()) == Schedule(["tile": 4, "unroll": 1, "vec": 4]))
    }
}
