import Testing
import TuneCore
@testable import TuneLearning

func record(_ task: TaskSpec, _ device: String, _ seconds: Double?, id: Int64 = 0, status: MeasureStatus = .ok) -> TuningRecord {
    TuningRecord(jobID: 1, candidateID: id, task: task, schedule: Schedule(["x": Int(id)]), device: device, deviceClass: .cpu,
                 threads: 1, status: seconds == nil ? .compileError : status, medianSeconds: seconds,
                 provenance: Provenance(proposer: "random"))
}

func matmul(_ m: Int) throws -> TaskSpec { try TaskSpec(op: .matmul, params: ["m": m, "n": 8, "k": 8]) }

@Suite struct LabelsAndSplits {
    @Test func labelsAreTheGroupsBestOverTheRecordsTime() throws {
        let a = try matmul(1), b = try matmul(2)
        let labeled = Labels.label([record(a, "d1", 2, id: 1), record(a, "d1", 1, id: 2), record(a, "d2", 4, id: 3),
                                    record(b, "d1", 8, id: 4), record(a, "d1", nil, id: 5)])
        #expect(labeled.map(\.label) == [0.5, 1, 1, 1], "failures get no label; each (task, device) has its own best")
        let s = Labels.summary([record(a, "d1", 2, id: 1), record(a, "d1", nil, id: 5)])
        #expect(s.ok == 1 && s.byStatus["compile_error"] == 1 && s.groups == 1)
    }

    func dataset() throws -> ([LabeledRecord], [String: DeviceProfile]) {
        var rs: [TuningRecord] = []
        var id: Int64 = 0
        for m in [1, 2, 3, 4, 128] {
            for d in ["v3a", "v3b", "v4"] {
                for i in 0..<20 { id += 1; rs.append(record(try matmul(m), d, Double(i + 1), id: id)) }
            }
        }
        var v3 = DeviceProfile(deviceClass: .cpu, model: "Xeon"); v3.target = "x86-64-v3"
        var v3b = v3; v3b.model = "EPYC"
        var v4 = v3; v4.target = "x86-64-v4"
        return (Labels.label(rs), ["v3a": v3, "v3b": v3b, "v4": v4])
    }

    @Test func withinTaskHoldsOutATenthOfEveryGroup() throws {
        let (rs, _) = try dataset()
        let s = Splitter.withinTask(rs, seed: 1)
        #expect(Set(s.train).isDisjoint(with: s.test) && s.train.count + s.test.count == rs.count)
        for (_, idx) in Dictionary(grouping: s.test, by: { rs[$0].group }) { #expect(idx.count == 2) }
        #expect(Splitter.withinTask(rs, seed: 1) == s && Splitter.withinTask(rs, seed: 2) != s)
    }

    /// No task of a held-out network is trained on, even one the kept networks share.
    @Test func byTaskLeaksNoTask() throws {
        let (rs, _) = try dataset()
        let held = Workload(name: "net", tasks: [WeightedTask(try matmul(1), weight: 1), WeightedTask(try matmul(128), weight: 1)])
        let s = try Splitter.byTask(rs, holdout: [held])
        let trainTasks = Set(s.train.map { rs[$0].record.task }), testTasks = Set(s.test.map { rs[$0].record.task })
        #expect(trainTasks.isDisjoint(with: testTasks))
        #expect(testTasks == [try matmul(1), try matmul(128)])
        #expect(s.train.count + s.test.count == rs.count)
        let absent = Workload(name: "other", tasks: [WeightedTask(try matmul(999), weight: 1)])
        #expect(throws: SplitError.self) { try Splitter.byTask(rs, holdout: [absent]) }
        #expect(throws: SplitError.self) { try Splitter.byTask(rs, holdout: []) }
    }

    @Test func byTargetHoldsOutEveryDeviceOfALevelAndNoOther() throws {
        let (rs, profiles) = try dataset()
        let s = try Splitter.byTarget(rs, holdout: ["x86-64-v3"], profiles: profiles)
        #expect(Set(s.test.map { rs[$0].record.device }) == ["v3a", "v3b"])
        #expect(Set(s.train.map { rs[$0].record.device }) == ["v4"])
        let one = try Splitter.byTarget(rs, holdout: ["v3b"], profiles: profiles)
        #expect(Set(one.test.map { rs[$0].record.device }) == ["v3b"])
        do {
            _ = try Splitter.byTarget(rs, holdout: ["x86-64-v9"], profiles: profiles)
            Issue.record("an unknown holdout must be refused")
        } catch {
            #expect(error.code == .unknownHoldout && error.message.contains("x86-64-v3"))
        }
        #expect(throws: SplitError.self) { try Splitter.byTarget(rs, holdout: ["x86-64-v3", "x86-64-v4"], profiles: profiles) }
    }

    @Test func pruningKeepsTheHeavyTasksAndTheUsefulRecords() throws {
        let (rs, _) = try dataset()
        var settings = PruningSettings()
        settings.taskFraction = 0.2
        settings.minLabel = 0.1
        let kept = Pruning.prune(rs, weights: [:], settings: settings)
        #expect(Set(kept.map { rs[$0].record.task }) == [try matmul(128)], "the one task of 5 with by far the most FLOPs")
        #expect(kept.allSatisfy { rs[$0].label >= 0.1 })
        #expect(kept.count == 3 * 10)
    }
}
