import Foundation
#if canImport(Glibc)
import Glibc
#endif
import Logging
import Synchronization
import Testing
import TuneCore
import TuneStore
import TuneTestKit
@testable import TuneCoordinator

/// A trainer that fails on its first run and succeeds after.
final class FlakyTrainer: ModelTrainer, @unchecked Sendable {
    let runs = Mutex(0)
    func train(deviceClass: DeviceClass, database: any TuningDatabase) throws -> DeployedModel {
        let n = runs.withLock { $0 += 1; return $0 }
        if n == 1 { throw StoreError("the trainer crashed") }
        let v = ModelVersion(id: Int64(n), kind: "fixed", deviceClass: deviceClass, featureSchemaVersion: 0, records: n)
        return DeployedModel(model: FixedCostModel(version: v) { _, _ in 0 }, trainingSeconds: 0, recentPCA: nil, records: n)
    }
    func restore(deviceClass: DeviceClass, database: any TuningDatabase) throws -> DeployedModel? { nil }
}

@Suite struct BackgroundTrainingBehaviour {
    func waitDone(_ t: BackgroundTraining) {
        let clock = ContinuousClock(), deadline = clock.now + .seconds(30)
        while t.isRunning && clock.now < deadline { sched_yield() }
    }

    /// A failed training leaves the previous model in place; the next run can succeed.
    @Test func aFailedTrainingYieldsNothingAndTheNextRunDoes() throws {
        let t = BackgroundTraining(trainer: FlakyTrainer(), database: try Store.inMemory())
        let log = Logger(label: "test")
        #expect(t.start(.cpu))
        waitDone(t)
        #expect(t.finished(logger: log).isEmpty, "nothing to deploy after a failure")
        #expect(t.start(.cpu))
        waitDone(t)
        let done = t.finished(logger: log)
        #expect(done.count == 1 && done[0].0 == .cpu && done[0].1.model.version?.id == 2)
    }

    @Test func withoutATrainerNothingStarts() throws {
        let t = BackgroundTraining(trainer: nil, database: try Store.inMemory())
        #expect(!t.start(.cpu))
    }
}
