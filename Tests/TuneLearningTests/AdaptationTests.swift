import Foundation
import Testing
import TuneCore
import TuneStore
import CPUKernels
@testable import TuneFeatures
@testable import TuneLearning
@testable import TuneModel

/// A CPU nobody measured: another vendor's cache sizes, width and clock.
var unseenCPU: DeviceProfile {
    var p = DeviceProfile(deviceClass: .cpu, model: "Unseen 12-core"); p.cores = 12; p.threads = 24; p.vectorBits = 256
    p.isa = ["sse4_2", "avx", "avx2", "fma"]; p.l1dBytes = 48 << 10; p.l2Bytes = 1 << 20; p.l3Bytes = 96 << 20
    p.peakGFLOPS = 2100; p.clockMHz = 4200; return p
}

func quickTransferSettings() -> TrainingSettings {
    var s = TrainingSettings()
    s.xgb.rounds = 10
    s.transfer.epochs = 2; s.transfer.width = 8; s.transfer.feedForward = 16; s.transfer.headHidden = 16
    s.meta.iterations = 5
    return s
}

func importInto(_ store: Store, _ records: [TuningRecord], profiles: [String: DeviceProfile]) throws {
    let imported = records.map { r in
        ImportedRecord(task: r.task, deviceClass: .cpu, schedule: r.schedule, device: r.device, agent: "a", status: .ok,
                       samples: [r.medianSeconds!])
    }
    _ = try store.importRecords(imported, source: "synthetic", digest: "\(records.count)", profiles: profiles)
}

@Suite struct TransferToNewHardware {
    let devices = [Profiles.avx2, Profiles.avx512]
    var profiles: [String: DeviceProfile] { Dictionary(uniqueKeysWithValues: (devices + [unseenCPU]).map { ($0.fingerprint, $0) }) }

    /// The model in the build, stored as a version of a fresh database the first time a
    /// coordinator asks, ranks schedules of a device it has never seen.
    @Test func theShippedModelLoadsInAFreshDatabaseAndScoresAnUnseenDevice() throws {
        let shipped = try #require(ShippedModel.stored, "this build ships a pre-trained model (tools/ship-model.sh)")
        #expect(ShippedModel.isShipped(shipped) && shipped.records > 10_000)
        let store = try Store.inMemory()
        let deployed = try #require(try OnlineTrainer().restore(deviceClass: .cpu, database: store))
        #expect(try store.models().count == 1)
        _ = try OnlineTrainer().restore(deviceClass: .cuda, database: store)
        #expect(try store.models().count == 1, "stored once, shared by every class")
        let task = trainingTasks[0]
        let space = try #require(CPUKernels.space(for: task, device: unseenCPU, threads: 1))
        var rng = SplitMix64(seed: 3)
        let schedules = (0..<32).compactMap { _ in space.sample(using: &rng) }
        let scores = deployed.model.score(task: task, device: unseenCPU, threads: 1, schedules: schedules)
        #expect(scores.count == schedules.count && scores.allSatisfy(\.isFinite))
        #expect(Set(scores).count > schedules.count / 2, "it tells the schedules apart")
    }

    /// The schedules shipped for transfer-tuning: the reference dataset's fastest of every
    /// task of the four networks, CPU and GPU, each on a device whose profile ships with it.
    @Test func theShippedSchedulesCoverTheReferenceTasksAndNameTheirDevices() throws {
        let shipped = ShippedSchedules.shipped
        #expect(shipped.records.count > 300, "this build ships the reference set's best schedules (tools/ship-model.sh)")
        #expect(shipped.records.allSatisfy { $0.okSeconds != nil && shipped.profiles[$0.device]?.deviceClass == $0.deviceClass })
        #expect(Set(shipped.records.map(\.deviceClass)) == [.cpu, .cuda])
        let resnet = try #require(BuiltinWorkloads.named("resnet50"))
        let tasks = Set(shipped.records.filter { $0.deviceClass == .cpu }.map(\.task))
        #expect(resnet.tasks.allSatisfy { tasks.contains($0.task) }, "every ResNet-50 task has CPU schedules")
    }

    /// What `coordctl model ship --schedules` writes is Swift whose data reads back as it was.
    @Test func shippedSchedulesSourceRoundTrips() throws {
        var p = unseenCPU
        p.compilerFlags = ["-O3", "-march=x86-64-v4", "-DX=\"a/b\\\\c\""]
        let task = trainingTasks[0]
        let records = (0..<3).map { i in
            TuningRecord(jobID: 7, candidateID: Int64(i), task: task, schedule: Schedule(["mr": 4 << i, "nr": 16]), device: p.fingerprint,
                         deviceClass: .cpu, threads: 1 + i, status: .ok, medianSeconds: 1e-4 * Double(i + 1),
                         provenance: Provenance(proposer: "random#\"x", modelVersion: 2, predicted: 0.5))
        }
        let set = ShippedSchedules(records: records, profiles: [p.fingerprint: p])
        let source = try set.source(from: "a test\nwith a newline")
        let open = try #require(source.range(of: "##\"\"\"\n")), close = try #require(source.range(of: "\n\"\"\"##"))
        #expect(try ShippedSchedules.decode(String(source[open.upperBound..<close.lowerBound])) == set)
        #expect(source.components(separatedBy: "\n").count > 3 + records.count, "a record per line")
    }

    /// The scoring-speed measure scores every pool it is given, timing features and ranker apart.
    @Test func scoringSpeedCountsWhatItScored() throws {
        let deployed = try #require(try OnlineTrainer().restore(deviceClass: .cpu, database: try Store.inMemory()))
        let tasks = Array(trainingTasks.prefix(2))
        let r = ScoringSpeed.measure(try #require(deployed.model as? LearnedCostModel), tasks: tasks, device: unseenCPU, threads: 1,
                                     spaceFor: { CPUKernels.space(for: $0, device: unseenCPU, threads: 1) }, pool: 64, rounds: 2)
        #expect(r.candidates == 2 * 2 * 64)
        #expect(r.featureSeconds > 0 && r.rankerSeconds > 0 && r.candidatesPerSecond > 0)
        #expect(r.candidatesPerSecond < min(r.featuresPerSecond, r.rankerRowsPerSecond), "end to end is slower than either part")
    }

    /// The online trainer adapts the base to a class's first records (a version that names its
    /// base) and never changes the base's stored bytes.
    @Test func adaptationMakesAVersionOnItsBaseAndLeavesTheBaseAlone() throws {
        let store = try Store.inMemory()
        let records = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 40, seed: 11)
        let trained = try Training.train(records, profiles: profiles, settings: { var s = quickTransferSettings(); s.kind = .transfer; return s }())
        let base = try store.saveModel(trained.stored)
        let target = syntheticRecords(tasks: trainingTasks, devices: [unseenCPU], perGroup: 30, seed: 12)
        let baseModel = try LearnedCostModel.load(try #require(try store.model(id: base.id)), version: base)
        let adapted = try Adaptation.adapt(base: baseModel, baseStored: try #require(try store.model(id: base.id)), records: target,
                                           devices: [unseenCPU.fingerprint], limit: 32, profiles: profiles)
        #expect(adapted.stored.baseID == base.id && adapted.stored.records == 32)
        let v = try store.saveModel(adapted.stored)
        #expect(try store.models().first { $0.id == v.id }?.baseID == base.id)
        #expect(try store.model(id: base.id)?.blob == trained.stored.blob, "the base's parameters are untouched")
        #expect(adapted.stored.blob != trained.stored.blob)
        // A model kind that does not adapt is refused with a clear message.
        var ms = TrainingSettings(); ms.kind = .mlp; ms.mlp.epochs = 1
        let mlp = try Training.train(records, profiles: profiles, settings: ms)
        let mv = try store.saveModel(mlp.stored)
        let mlpModel = try LearnedCostModel.load(mlp.stored, version: mv)
        #expect(throws: Adaptation.AdaptError.self) {
            try Adaptation.adapt(base: mlpModel, baseStored: mlp.stored, records: target, devices: [unseenCPU.fingerprint], limit: 32, profiles: profiles)
        }
        // Nothing of the target measured yet: nothing to adapt on.
        #expect(throws: Adaptation.AdaptError.self) {
            try Adaptation.adapt(base: baseModel, baseStored: trained.stored, records: records, devices: [unseenCPU.fingerprint], limit: 32, profiles: profiles)
        }
    }

    /// An XGBoost base adapts by growing more trees on the target's first records: a version
    /// on its base whose ranking of those records is better than the base's, the base's bytes
    /// untouched, and it still loads and scores like any stored model.
    @Test func anXGBoostBaseAdaptsWithMoreTreesAndLeavesTheBaseAlone() throws {
        let store = try Store.inMemory()
        let records = syntheticRecords(tasks: trainingTasks, devices: devices, perGroup: 40, seed: 21)
        var xs = TrainingSettings(); xs.xgb.rounds = 20
        let trained = try Training.train(records, profiles: profiles, settings: xs)
        let base = try store.saveModel(trained.stored)
        let baseModel = try LearnedCostModel.load(trained.stored, version: base)
        // The unseen device ranks the other way round: what the base learned is wrong there.
        let target = syntheticRecords(tasks: trainingTasks, devices: [unseenCPU], perGroup: 30, seed: 22).map { r -> TuningRecord in
            var r = r; r.medianSeconds = 1 / r.medianSeconds!; return r
        }
        let adapted = try Adaptation.adapt(base: baseModel, baseStored: trained.stored, records: target,
                                           devices: [unseenCPU.fingerprint], limit: 64, profiles: profiles)
        #expect(adapted.stored.baseID == base.id && adapted.stored.kind == "xgb" && adapted.stored.records == 64)
        #expect(try store.model(id: base.id)?.blob == trained.stored.blob, "the base's parameters are untouched")
        let params = try JSONDecoder().decode(LearnedCostModel.Parameters.self, from: Data(adapted.stored.parameters.utf8))
        #expect(params.xgbAdaptation == XGBoostAdaptation(), "the version says how its trees were grown")
        let v = try store.saveModel(adapted.stored)
        let reloaded = try LearnedCostModel.load(adapted.stored, version: v)
        let built = try DatasetBuilder().build(Labels.label(Array(target.prefix(64))), profiles: profiles)
        func pca(_ m: LearnedCostModel) -> Double {
            EvaluationReport(scores: m.ranker.score(features: built.data.features, rows: built.data.rows), labels: built.data.labels,
                             groups: built.data.groups).pca
        }
        #expect(pca(reloaded) > pca(baseModel) + 0.1, "base \(pca(baseModel)), adapted \(pca(reloaded))")
        // What `coordctl model adapt` prints: both rank the target's records the adaptation did
        // not see (it reached for the attention ranker, and an XGBoost base crashed it).
        let held = Adaptation.heldOut(base: baseModel, adapted: adapted.model, records: target, devices: [unseenCPU.fingerprint],
                                      limit: 64, profiles: profiles)
        #expect(held.records == target.count - 64 && held.records > 1)
        let before = try #require(held.before), after = try #require(held.after)
        #expect(after > before + 0.1, "held out: base \(before), adapted \(after)")
    }

    /// What a guided job needs from adaptation: one pair measured against the base's belief
    /// (the schedule it ranked first was measured 2.5x slower than another of the same task),
    /// and the continued trees must rank schedules like those two the way they measured. With
    /// XGBoost's default minimum child weight, a handful of records cannot split a single
    /// node (their pairwise hessians sum below 1) and the extra trees changed nothing.
    @Test func aFewRecordsAgainstTheBaseTurnItsRanking() throws {
        let base = try XGBoostRanker.train(try syntheticData(groups: 20, seed: 1), settings: { var s = XGBoostSettings(); s.rounds = 60; return s }())
        let favoured: [Float] = [0.3, 0.2, 0.1, 0.1, 0.5, 0.5], other: [Float] = [0.8, 0.2, 0.1, 0.1, 0.5, 0.5]
        let before = base.score(features: favoured + other, rows: 2)
        #expect(before[0] > before[1], "the base prefers the first")
        // Eight records of four tasks: three groups as the base expects, one pair against it.
        var f: [Float] = [], y: [Double] = [], g: [Int] = []
        var rng = SplitMix64(seed: 5)
        for group in 0..<3 {
            for x0: Float in [0.3, 0.9] {
                f += [x0] + (1..<6).map { _ in Float.random(in: 0..<1, using: &rng) }
                y.append(x0 == 0.3 ? 1 : 0.5); g.append(group)
            }
        }
        f += favoured + other; y += [0.4, 1]; g += [3, 3]
        let support = try RankingDataset(features: f, featureCount: 6, labels: y, groups: g)
        let coordd = XGBoostAdaptation()
        let adapted = try coordd.grow(base, on: support)
        // Neighbours of the measured pair (another value of an irrelevant feature).
        var near = favoured + other
        near[5] = 0.45; near[11] = 0.45
        let after = adapted.score(features: near, rows: 2)
        #expect(after[0] < after[1], "adapted: \(after), base: \(before)")
        var withDefault = coordd
        withDefault.minChildWeight = 1
        let stiff = try withDefault.grow(base, on: support)
        let unmoved = stiff.score(features: near, rows: 2)
        #expect(unmoved[0] > unmoved[1], "with XGBoost's default the same records change nothing: \(unmoved)")
    }

    /// by_target in few-shot mode: every method at every k on one fixed test set, cold
    /// methods absent at k = 0, the LightGBM runner's absence said, not hidden.
    @Test func fewShotEvaluationReportsEveryMethodAtEveryK() throws {
        let records = syntheticRecords(tasks: trainingTasks, devices: devices + [unseenCPU], perGroup: 40, seed: 13)
        let result = try FewShotEvaluation.evaluate(records, profiles: profiles, holdout: [unseenCPU.fingerprint], shots: [0, 16, 32],
                                                    settings: quickTransferSettings(), perGroup: 16)
        #expect(result.devices == [unseenCPU.fingerprint])
        for k in [0, 16, 32] {
            let methods = Set(result.rows.filter { $0.k == k }.map(\.method))
            #expect(methods == (k == 0 ? ["pooled-xgb", "xgb-adapted", "transfer", "meta"]
                                       : ["cold-xgb", "cold-mlp", "pooled-xgb", "xgb-adapted", "transfer", "meta"]))
        }
        let targetCount = records.filter { $0.device == unseenCPU.fingerprint }.count
        #expect(Set(result.rows.map(\.records)) == [targetCount - 32], "one test set: the target's records outside the largest support")
        #expect(result.rows.allSatisfy { (0...1).contains($0.pca) && (0...1).contains($0.peak5) })
        #expect(result.skipped["pooled-lightgbm"] != nil)
        #expect(result.rows.first { $0.method == "pooled-xgb" && $0.k == 32 }?.trainRecords == records.count - targetCount + 32)
        let external: FewShotEvaluation.ExternalRanker = { _, test in (0..<test.rows).map { -Double($0) } }
        let withRunner = try FewShotEvaluation.evaluate(records, profiles: profiles, holdout: [unseenCPU.fingerprint], shots: [16],
                                                        methods: ["pooled-lightgbm"], settings: quickTransferSettings(), lightGBM: external)
        #expect(withRunner.rows.map(\.method) == ["pooled-lightgbm"])
        #expect(throws: SplitError.self) {
            try FewShotEvaluation.evaluate(records, profiles: profiles, holdout: ["no-such-device"], shots: [16], settings: quickTransferSettings())
        }
    }
}
