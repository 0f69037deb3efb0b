import ArgumentParser
import Foundation
import Logging
import TuneConfig
import TuneCoordinator
import TuneLearning
import TuneSearch
import TuneStore
import TuneSystem
import TuneTransport

@main
struct Coordd: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordd",
        abstract: "The TuneFleet coordinator: runs campaigns, dispatches to agents, stores every result.")

    @Option(help: "Agent endpoint to bind (tcp://HOST:PORT; port 0 or * picks a free port).")
    var listen = "tcp://127.0.0.1:7700"
    @Option(help: "Control endpoint for coordctl.")
    var control = "tcp://127.0.0.1:7701"
    @Option(help: "SQLite database (created if missing).")
    var db = "tunefleet.db"
    @Option(help: "Heartbeat interval in seconds; an agent silent for 4 intervals is lost.")
    var heartbeat = 1.0
    @Option(help: "Candidates per batch.")
    var batchSize = 4
    @Option(help: "Write the bound endpoints as JSON to this file once listening.")
    var readyFile: String?
    @Option(help: "The coordinator's CURVE key pair (coordctl keygen NAME writes NAME.key): both sockets then require keys.")
    var key: String?
    @Option(help: "Public keys allowed to connect, one per line: ROLE KEY name, ROLE agent or operator (an agent key may use the agent socket only, an operator key the control socket only). Required with --key; re-read on SIGHUP.")
    var allow: String?
    @Flag(help: "Allow listening beyond loopback without keys. Anyone who can reach the port can then join.")
    var insecure = false
    @Option(help: "Log level: trace, debug, info, notice, warning, error.")
    var logLevel = "info"
    @Option(help: "Append typed events (refused keys and messages, allow-list reloads) to this file, one JSON object a line.")
    var events: String?
    @Option(help: "Retrain a device class's cost model at least every this many new verified results (0: never); sooner while the class has few: after 8, then whenever its results grew by a quarter.")
    var retrainEvery = 256
    @Flag(help: "Do not use the shipped pre-trained model and schedules: until its first retraining the coordinator searches without a model and starts jobs from this database's records alone (a cold start, for comparisons).")
    var noShippedModel = false
    @Option(help: "Settings file (TOML): each key is a flag above without its dashes (batch-size = 8, insecure = true); flags on the command line win.")
    var config: String?

    /// The command line with `--config FILE` read in; a file that cannot be used ends the process with its reason.
    static func main() {
        // A log reader that goes away must not end the coordinator: writes to a closed pipe fail instead.
        signal(SIGPIPE, SIG_IGN)
        do { main(try CommandSettings.expand(Array(CommandLine.arguments.dropFirst()), command: Self.self)) } catch {
            FileHandle.standardError.write(Data("coordd: \(error)\n".utf8))
            Foundation.exit(2)
        }
    }

    /// Online retraining shares the host with the agents that measure: one XGBoost thread,
    /// so no OpenMP worker spins on a core an agent is timing on (measured: with two, libgomp's
    /// idle spinning was 63% of coordd's CPU during a campaign on a 2-core host).
    static var onlineTraining: TrainingSettings {
        var s = TrainingSettings()
        s.xgb.threads = 1
        return s
    }

    func validate() throws {
        for (flag, endpoint) in [("--listen", listen), ("--control", control)] {
            guard endpoint.hasPrefix("tcp://") || endpoint.hasPrefix("ipc://") else {
                throw ValidationError("\(flag) must be a tcp:// or ipc:// endpoint, got '\(endpoint)'")
            }
            if !isLoopback(endpoint) && !insecure && key == nil {
                throw ValidationError("\(flag) \(endpoint) is not loopback: give CURVE keys (--key, --allow) or, knowingly, --insecure")
            }
        }
        if (key == nil) != (allow == nil) { throw ValidationError("--key and --allow go together") }
        if key != nil && insecure { throw ValidationError("--insecure contradicts --key") }
        guard heartbeat > 0 && heartbeat <= 60 else { throw ValidationError("--heartbeat must be in (0, 60]") }
        guard (1...512).contains(batchSize) else { throw ValidationError("--batch-size must be 1...512") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard retrainEvery >= 0 else { throw ValidationError("--retrain-every must be >= 0") }
    }

    func run() throws {
        // A reload signal before the allow-list handler is up must not end the process.
        signal(SIGHUP, SIG_IGN)
        var logger = Logger(label: "coordd")
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        if insecure { logger.warning("--insecure: listening without authentication") }
        // One coordinator per database: a second one would hand out the same candidates twice.
        let folder = db.contains("/") ? String(db[..<db.lastIndex(of: "/")!]) : "."
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: folder.isEmpty ? "/" : folder, isDirectory: &isDir), isDir.boolValue else {
            logger.error("cannot create the database \(db): the folder \(folder) does not exist")
            throw ExitCode(2)
        }
        let lock: ProcessLock
        do { lock = try ProcessLock(path: db + ".coordd-lock") } catch let held as ProcessLock.Held {
            let holder = held.holderPID.map { " (pid \($0))" } ?? ""
            logger.error("the database \(db) is in use by another coordd\(holder): one coordinator per database; stop it or give another --db")
            throw ExitCode(2)
        } catch {
            logger.error("cannot lock the database \(db): \(error)")
            throw ExitCode(2)
        }
        defer { withExtendedLifetime(lock) {} }
        let existed = FileManager.default.fileExists(atPath: db)
        let store: Store
        do { store = try Store(path: db) } catch {
            logger.error("\(error)")
            throw ExitCode(2)
        }
        var settings = CoordinatorSettings()
        if let key, let allow {
            do {
                settings.curve = CurveServerSettings(keys: try CurveKeyFile.loadPair(key), allow: try CurveKeyFile.loadAllowList(allow))
            } catch {
                logger.error("\(error)")
                throw ExitCode(2)
            }
            logger.info("CURVE on: \(settings.curve!.allow.names.count) keys allowed, coordinator key \(settings.curve!.keys.publicKey)")
            warnUnroled(settings.curve!.allow, logger)
        }
        settings.agentEndpoint = portZeroToStar(listen)
        settings.controlEndpoint = portZeroToStar(control)
        settings.dispatch.heartbeatInterval = heartbeat
        settings.defaultBatchSize = batchSize
        settings.tuning.retrainEvery = retrainEvery > 0 ? retrainEvery : nil
        if !noShippedModel {
            let known = ShippedSchedules.shipped
            settings.knownSchedules = known.records.compactMap { r in known.profiles[r.device].map { TransferSource(record: r, profile: $0) } }
        }
        // The cost model: retrained in the background from the results as they stream in.
        let coordinator = Coordinator(settings: settings, store: store, logger: logger, trainer: OnlineTrainer(settings: Self.onlineTraining, useShipped: !noShippedModel))
        let eventLog: EventLog?
        do { eventLog = try events.map { try EventLog(path: $0) } } catch {
            logger.error("\(error)")
            throw ExitCode(2)
        }
        coordinator.events = eventLog
        let bound: (agent: String, control: String)
        do { bound = try coordinator.bind() } catch {
            logger.error("cannot listen: \(error)")
            // A database this run created stays only if the coordinator ever ran on it.
            if !existed { for suffix in ["", "-wal", "-shm"] { try? FileManager.default.removeItem(atPath: db + suffix) } }
            throw ExitCode(2)
        }
        logger.info("listening for agents on \(bound.agent), control on \(bound.control), database \(db)")
        if let readyFile {
            let json = "{\"agent\": \"\(bound.agent)\", \"control\": \"\(bound.control)\"}\n"
            try writeFile(readyFile, json)
        }
        if let auth = coordinator.authenticator, let allow {
            // SIGHUP re-reads the allow-list; a file that cannot be used leaves the old list in force.
            let log = logger
            onSignal(SIGHUP) {
                do {
                    let list = try CurveKeyFile.loadAllowList(allow)
                    auth.replaceAllowList(list)
                    warnUnroled(list, log)
                    log.notice("allow-list reloaded: \(list.names.count) keys")
                    eventLog?.emit(.allowListReloaded(keys: list.names.count))
                } catch {
                    log.error("allow-list not reloaded, the previous one stays: \(error)")
                    eventLog?.emit(.allowListKept(reason: "\(error)"))
                }
            }
        }
        let stop = StopSignal()
        onTerminationSignals { _ in stop.stop() }
        try coordinator.run(stop: stop)
        logger.info("stopped")
    }
}

func isLoopback(_ endpoint: String) -> Bool {
    if endpoint.hasPrefix("ipc://") { return true }
    let host = endpoint.dropFirst("tcp://".count).split(separator: ":").dropLast().joined(separator: ":")
    return host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host.hasPrefix("127.")
}

func portZeroToStar(_ endpoint: String) -> String {
    endpoint.hasSuffix(":0") ? String(endpoint.dropLast()) + "*" : endpoint
}

/// Keys without a role may use both sockets: said at start and at each reload, with the fix.
func warnUnroled(_ list: AllowList, _ logger: Logger) {
    let n = list.unroled
    guard n > 0 else { return }
    logger.warning("\(n) allow-list key(s) have no role and may use both the agent and the control socket; put a role before each key ('agent KEY name' or 'operator KEY name') to limit it to one")
}
