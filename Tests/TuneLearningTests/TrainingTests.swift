import Foundation
import Testing
import TuneCore
import TuneStore
import CPUKernels
@testable import TuneFeatures
@testable import TuneLearning
@testable import TuneModel

/// Records of real schedules of real spaces whose "time" is a known function of what the
/// schedule means for the device (register pressure, cache fit, lanes), on two CPUs.
func syntheticRecords(tasks: [TaskSpec], devices: [DeviceProfile], perGroup: Int, seed: UInt64) -> [TuningRecord] {
    var out: [TuningRecord] = []
    var id: Int64 = 0
    for device in devices {
        for task in tasks {
            guard let sp = CPUKernels.space(for: task, device: device, threads: 1) as? any FeaturedSpace else { continue }
            var rng = SplitMix64(seed: seed ^ UInt64(task.name.count) ^ UInt64(device.vectorBits))
            for _ in 0..<perGroup {
                guard let s = sp.sample(using: &rng) else { continue }
                let f = sp.derivedFeatures(s)
                let t = 1e-3 * (1 + 3 * abs(f[.registerRatio] - 0.8) + 2 * max(0, f[.l1Ratio] - 1) + (1 - f[.lanesUsed]) + f[.loadsPerFMA])
                id += 1
                out.append(TuningRecord(jobID: 1, candidateID: id, task: task, schedule: s, device: device.fingerprint,
                                        deviceClass: .cpu, threads: 1, status: .ok, medianSeconds: t, provenance: Provenance(proposer: "random")))
            }
        }
    }
    return out
}

let trainingTasks = [try! TaskSpec(op: .matmul, params: ["m": 128, "n": 768, "k": 768]),
                     try! TaskSpec(op: .matmul, params: ["m": 64, "n": 256, "k": 512]),
                     try! TaskSpec(op: .conv2d, params: ["c": 64, "h": 28, "w": 28, "k": 64, "r": 3, "s": 3, "pad": 1])]

@Suite struct TrainingAndStore {
    let devices = [Profiles.avx2, Profiles.avx512]
    var profiles: [String: DeviceProfile] { Dictionary(uniqueKeysWithValues: devices.map { ($0.fingerprint, $0) }) }

    @Test func aModelLearnsAKnownRankingOverRealSchedules() throws {
        let train = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 150, seed: 1)
        let test = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 60, seed: 99)
        var s = TrainingSettings()
        s.xgb.rounds = 80
        let trained = try Training.train(train, profiles: profiles, settings: s)
        let built = try DatasetBuilder().build(Labels.label(test), profiles: profiles)
        let scores = trained.model.ranker.score(features: built.data.features, rows: built.data.rows)
        let r = EvaluationReport(scores: scores, labels: built.data.labels, groups: built.data.groups)
        #expect(r.pca > 0.8, "held-out PCA \(r.pca)")
        #expect(trained.stored.records == train.count)
    }

    @Test func aStoredModelLoadsWithIdenticalScores() throws {
        let records = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 40, seed: 2)
        var s = TrainingSettings(); s.xgb.rounds = 20
        let trained = try Training.train(records, profiles: profiles, settings: s)
        let store = try Store.inMemory()
        let v = try store.saveModel(trained.stored)
        let loaded = try LearnedCostModel.load(try #require(try store.model(id: v.id)), version: v)
        let schedules = records.prefix(30).filter { $0.task == trainingTasks[0] && $0.device == devices[0].fingerprint }.map(\.schedule)
        let a = trained.model.score(task: trainingTasks[0], device: devices[0], threads: 1, schedules: schedules)
        let b = loaded.score(task: trainingTasks[0], device: devices[0], threads: 1, schedules: schedules)
        #expect(!a.isEmpty && a == b)
        #expect(loaded.version == v)
    }

    @Test func aModelOfAnotherFeatureSchemaOrCorruptBytesIsRefused() throws {
        let records = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 20, seed: 3)
        var s = TrainingSettings(); s.xgb.rounds = 5
        let trained = try Training.train(records, profiles: profiles, settings: s)
        let v = ModelVersion(id: 7, kind: "xgb", deviceClass: .cpu, featureSchemaVersion: 1, records: 1)
        var old = trained.stored
        old.parameters = old.parameters.replacingOccurrences(of: JointFeatureExtractor().schema.digest, with: "0123456789abcdef")
        do {
            _ = try LearnedCostModel.load(old, version: v)
            Issue.record("a model of another schema must be refused")
        } catch {
            #expect(error.code == .schemaMismatch && error.message.contains("coordctl model train"))
        }
        var corrupt = trained.stored
        corrupt.blob = Array(corrupt.blob.prefix(40))
        #expect(throws: ModelError.self) { try LearnedCostModel.load(corrupt, version: v) }
        corrupt.parameters = "{not json"
        #expect(throws: ModelError.self) { try LearnedCostModel.load(corrupt, version: v) }
    }

    @Test func nothingToTrainOnIsAClearError() throws {
        let failures = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 3, seed: 4).map { r -> TuningRecord in
            var r = r; r.status = .compileError; r.medianSeconds = nil; return r
        }
        #expect(throws: ModelError.self) { try Training.train(failures, profiles: profiles, settings: TrainingSettings()) }
        let unprofiled = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 3, seed: 4)
        #expect(throws: ModelError.self) { try Training.train(unprofiled, profiles: [:], settings: TrainingSettings()) }
        // by_task on a dataset of one task cannot hold anything out.
        let one = syntheticRecords(tasks: [trainingTasks[0]], devices: [devices[0]], perGroup: 10, seed: 5)
        #expect(throws: (any Error).self) {
            try Evaluation.evaluate(one, profiles: profiles, split: .byTask, holdout: ["x"],
                                    networks: [Workload(name: "x", tasks: [WeightedTask(trainingTasks[0], weight: 1)])],
                                    kinds: [.xgb], settings: TrainingSettings())
        }
    }

    @Test func evaluationReportsEverySplitWithoutLeakage() throws {
        let records = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 40, seed: 6)
        var s = TrainingSettings(); s.xgb.rounds = 20
        let net = Workload(name: "net", tasks: [WeightedTask(trainingTasks[2], weight: 3)])
        let byTask = try Evaluation.evaluate(records, profiles: profiles, split: .byTask, holdout: [], networks: [net],
                                             kinds: [.xgb, .xgbRegression], settings: s)
        #expect(byTask.map(\.kind) == ["xgb", "xgb-reg"])
        #expect(byTask.allSatisfy { $0.records == 80 && $0.trainRecords == 160 && $0.top1 != nil && $0.top5 != nil })
        let byTarget = try Evaluation.evaluate(records, profiles: profiles, split: .byTarget, holdout: [devices[1].fingerprint],
                                               networks: [], kinds: [.xgb], settings: s)
        #expect(byTarget[0].records == 120 && byTarget[0].trainRecords == 120)
    }

    /// coordd's trainer: a version per run, stored, restored, with its accuracy on new records.
    @Test func theOnlineTrainerStoresAndRestoresVersions() throws {
        let store = try Store.inMemory()
        var fromScratch = OnlineTrainer()
        fromScratch.useShipped = false
        #expect(try fromScratch.restore(deviceClass: .cpu, database: store) == nil)
        #expect(throws: (any Error).self) { try fromScratch.train(deviceClass: .cpu, database: store) }
        // Records into the store through an import (the same path a campaign's results take).
        let records = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 60, seed: 7)
        let imported = records.map { r in
            ImportedRecord(task: r.task, deviceClass: .cpu, schedule: r.schedule, device: r.device, agent: "a", status: .ok,
                           samples: [r.medianSeconds!])
        }
        _ = try store.importRecords(imported, source: "synthetic", digest: "1", profiles: profiles)
        var settings = TrainingSettings(); settings.xgb.rounds = 30
        var trainer = OnlineTrainer(settings: settings)
        trainer.useShipped = false
        let deployed = try trainer.train(deviceClass: .cpu, database: store)
        #expect(deployed.records > 300 && deployed.recentPCA != nil)
        let restored = try #require(try fromScratch.restore(deviceClass: .cpu, database: store))
        #expect(restored.model.version == deployed.model.version && restored.recentPCA == deployed.recentPCA)
        #expect(try fromScratch.restore(deviceClass: .cuda, database: store) == nil)
        // With the shipped model and too few records of its own to compare models on, a
        // class gets the shipped model adapted to them: a version based on the shipped one.
        let withShipped = OnlineTrainer(settings: settings)
        if ShippedModel.stored != nil {
            let fresh = try Store.inMemory()
            _ = try importInto(fresh, Array(records.prefix(80)), profiles: profiles)
            let adapted = try withShipped.train(deviceClass: .cpu, database: fresh)
            let versions = try fresh.models()
            #expect(versions.count == 2 && versions[1].baseID == versions[0].id && adapted.model.version == versions[1])
        }
    }
}

@Suite struct TestRetest {
    @Test func theSameTimingsTwiceRepeatPerfectlyAndNoiseShows() throws {
        let first = syntheticRecords(tasks: trainingTasks, devices: [Profiles.avx2], perGroup: 30, seed: 8)
        let same = Retest.compare(first: first, second: first)
        #expect(same.pairs == first.count && same.pca == 1 && same.medianDifference == 0)
        // Every second record 10% slower the second time: some pairs swap, the median moves.
        let noisy = first.enumerated().map { i, r -> TuningRecord in
            var r = r; if i % 2 == 0 { r.medianSeconds = r.medianSeconds! * 1.1 }; return r
        }
        let n = Retest.compare(first: first, second: noisy)
        #expect(n.pca < 1 && n.pca > 0.7)
        #expect(abs(n.medianDifference - 0.05) < 0.051)
        #expect(Retest.compare(first: first, second: []).pairs == 0)
    }
}
