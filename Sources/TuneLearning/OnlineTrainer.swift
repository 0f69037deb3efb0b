import Foundation
import TuneCore
import TuneModel

/// What coordd runs in the background as results stream in: a model per device class from
/// every verified record of that class, its accuracy measured on the newest records it did
/// not train on, stored as a new version.
public struct OnlineTrainer: ModelTrainer {
    public var settings: TrainingSettings
    /// Share of the newest records held out to measure the model on.
    public var recentShare = 0.1
    /// Below this many verified records of a class, the shipped pre-trained model (when this
    /// build has one) is adapted to them instead of a model trained from them alone: few
    /// records teach a model from scratch little (the README's few-shot table).
    public var adaptBelow = 1000
    /// Start from the shipped model when a class has no model of its own.
    public var useShipped = true
    let builder = DatasetBuilder()

    public init(settings: TrainingSettings = TrainingSettings(), useShipped: Bool = true) {
        self.settings = settings
        self.useShipped = useShipped
    }

    public func train(deviceClass: DeviceClass, database: any TuningDatabase) throws -> DeployedModel {
        let query = RecordQuery(deviceClass: deviceClass)
        let (records, _) = try database.records(query)
        let profiles = try database.deviceProfiles()
        // The newest records (oldest first in `records`) are the test of what is coming.
        let recent = records.count >= 100 ? Int(Double(records.count) * recentShare) : 0
        let older = Array(records.dropLast(recent)), newest = Array(records.suffix(recent))
        let verified = older.filter { $0.okSeconds != nil }.count
        // Candidates: the shipped model adapted to the class's records (while they are few)
        // and a model trained on them alone; the one that ranks the newest records better
        // is kept (the adapted one when there are too few to tell).
        var candidates: [TrainedModel] = []
        if useShipped, verified < adaptBelow, let (base, stored) = try ShippedModel.version(in: database, extractor: builder.extractor) {
            var adapted = try Adaptation.adapt(base: base, baseStored: stored, records: older, devices: Set(older.map(\.device)),
                                               limit: adaptBelow, profiles: profiles, builder: builder)
            adapted.stored.deviceClass = deviceClass
            candidates.append(adapted)
        }
        if candidates.isEmpty {
            candidates.append(try Training.train(older, profiles: profiles, settings: settings, query: query, deviceClass: deviceClass,
                                                 builder: builder))
        } else if recent > 0, let own = try? Training.train(older, profiles: profiles, settings: settings, query: query,
                                                             deviceClass: deviceClass, builder: builder) {
            candidates.append(own)
        }
        var best: (model: TrainedModel, pca: Double?)?
        var testSet: RankingDataset?
        if recent > 0, let built = try? builder.build(Labels.label(records), profiles: profiles) {
            // Labels of the newest records against everything known of their group.
            let newestIDs = Set(newest.map { "\($0.jobID):\($0.candidateID)" })
            let idx = built.records.indices.filter { newestIDs.contains("\(built.records[$0].record.jobID):\(built.records[$0].record.candidateID)") }
            if let test = try? built.data.subset(idx), test.rows > 1 { testSet = test }
        }
        for c in candidates {
            var pca: Double?
            if let test = testSet {
                pca = EvaluationReport(scores: c.model.ranker.score(features: test.features, rows: test.rows), labels: test.labels, groups: test.groups).pca
            }
            if best == nil || (pca ?? -1) > (best!.pca ?? -1) { best = (c, pca) }
        }
        guard var trained = best?.model else { throw ModelError(.emptyDataset, "nothing to train the \(deviceClass.rawValue) model on") }
        let recentPCA = best?.pca
        trained.stored.metrics = Training.json(["recent_pca": recentPCA ?? -1, "recent_records": Double(recent)])
        let version = try database.saveModel(trained.stored)
        let model = LearnedCostModel(kind: trained.model.kind, ranker: trained.model.ranker, extractor: builder.extractor, version: version)
        return DeployedModel(model: model, trainingSeconds: trained.seconds, recentPCA: recentPCA, records: trained.stored.records)
    }

    public func restore(deviceClass: DeviceClass, database: any TuningDatabase) throws -> DeployedModel? {
        for v in try database.models().reversed() where v.deviceClass == deviceClass || v.deviceClass == nil {
            guard let stored = try database.model(id: v.id) else { continue }
            guard let model = try? LearnedCostModel.load(stored, version: v, extractor: builder.extractor) else { continue }
            let metrics = (try? JSONDecoder().decode([String: Double].self, from: Data(stored.metrics.utf8))) ?? [:]
            return DeployedModel(model: model, trainingSeconds: stored.trainingSeconds,
                                 recentPCA: metrics["recent_pca"].flatMap { $0 >= 0 ? $0 : nil }, records: stored.records)
        }
        // Nothing of its own yet: the shipped pre-trained model, from the first batch.
        if useShipped, let (model, stored) = try ShippedModel.version(in: database, extractor: builder.extractor) {
            return DeployedModel(model: model, trainingSeconds: stored.trainingSeconds, recentPCA: nil, records: stored.records)
        }
        return nil
    }
}
