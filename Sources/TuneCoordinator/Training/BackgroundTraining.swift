import Foundation
import Logging
import Synchronization
import TuneCore

/// Runs training on its own thread, one run per device class at a time, so ingest and
/// dispatch never wait for it. Outcomes come back to the loop through `finished`; a failed
/// run is logged and the previous model stays.
final class BackgroundTraining: Sendable {
    enum Outcome: Sendable {
        case trained(DeviceClass, DeployedModel)
        case failed(DeviceClass, String)
    }

    private let trainer: (any ModelTrainer)?
    private let database: any TuningDatabase
    private let state = Mutex<(running: Set<DeviceClass>, done: [Outcome])>(([], []))

    init(trainer: (any ModelTrainer)?, database: any TuningDatabase) {
        self.trainer = trainer
        self.database = database
    }

    /// Starts a run for the class unless one is running or no trainer is configured.
    func start(_ dc: DeviceClass) -> Bool {
        guard let trainer else { return false }
        guard state.withLock({ $0.running.insert(dc).inserted }) else { return false }
        let database = database
        Thread.detachNewThread { [self] in
            let outcome: Outcome
            do {
                outcome = .trained(dc, try trainer.train(deviceClass: dc, database: database))
            } catch {
                outcome = .failed(dc, "\(error)")
            }
            state.withLock { s in
                s.running.remove(dc)
                s.done.append(outcome)
            }
        }
        return true
    }

    var isRunning: Bool { state.withLock { !$0.running.isEmpty } }
    func isRunning(_ dc: DeviceClass) -> Bool { state.withLock { $0.running.contains(dc) } }

    /// Models trained since the last call (failures are logged here).
    func finished(logger: Logger) -> [(DeviceClass, DeployedModel)] {
        let done = state.withLock { s in
            defer { s.done = [] }
            return s.done
        }
        var out: [(DeviceClass, DeployedModel)] = []
        for o in done {
            switch o {
            case .trained(let dc, let d):
                logger.info("new \(dc.rawValue) model\(d.model.version.map { " version \($0.id)" } ?? "") from \(d.records) records in \(String(format: "%.1f", d.trainingSeconds)) s\(d.recentPCA.map { String(format: ", PCA %.3f on the newest results", $0) } ?? "")")
                out.append((dc, d))
            case .failed(let dc, let why):
                logger.error("training a \(dc.rawValue) model failed; the previous model stays: \(why)")
            }
        }
        return out
    }
}
