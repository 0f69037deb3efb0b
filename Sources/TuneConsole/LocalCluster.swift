import Foundation
import TuneCore
import TuneSystem
import TuneTransport
#if canImport(Glibc)
import Glibc
#endif

/// A cluster of real processes on loopback: coordd and agents (CPU unless told) as children, each with
/// its log in the working folder. Used by `coordctl demo` and the cluster tests.
public final class LocalCluster {
    public struct Settings: Sendable {
        /// Folder holding the coordd and tune-agent executables.
        public var binDir: String
        /// Working folder: database, logs, agent build folders.
        public var dir: String
        public var heartbeat = 1.0
        public var batchSize = 4
        /// Extra environment for agents (e.g. test fault injection).
        public var agentEnvironment: [String: String] = [:]
        /// CURVE keys everywhere: fresh pairs for the coordinator, the operator and the agents
        /// are written to the working folder, with an allow-list of the latter two.
        public var curve = true
        /// More coordd flags (e.g. `--retrain-every 8`).
        public var coordinatorArguments: [String] = []
        /// The address coordd's agent socket binds (port chosen by the system): loopback, or
        /// e.g. `0.0.0.0` for agents in other network namespaces (keys on).
        public var agentListenHost = "127.0.0.1"
        public init(binDir: String, dir: String) { self.binDir = binDir; self.dir = dir }
    }

    /// The key files of a cluster with CURVE on.
    public struct Keys: Sendable {
        public var coordinator: CurveKeyPair
        public var operatorKeys: CurveKeyPair
        public var agents: CurveKeyPair
        public var coordinatorKeyFile: String
        public var coordinatorPublicFile: String
        public var agentKeyFile: String
        public var allowFile: String
    }

    public let settings: Settings
    public private(set) var coordinator: ChildProcess?
    public private(set) var agents: [String: ChildProcess] = [:]
    public private(set) var agentEndpoint: String
    public private(set) var controlEndpoint = "tcp://127.0.0.1:0"
    public var databasePath: String { settings.dir + "/tunefleet.db" }
    /// coordd's typed events (`--events`).
    public var eventsPath: String { settings.dir + "/events.jsonl" }

    /// The events coordd has written so far.
    public func events() -> [CoordinatorEvent] {
        guard let data = FileManager.default.contents(atPath: eventsPath) else { return [] }
        return CoordinatorEvent.decodeLines(String(decoding: data, as: UTF8.self)) {
            try? JSONDecoder().decode(CoordinatorEvent.self, from: Data($0.utf8))
        }
    }
    public let keys: Keys?

    public init(settings: Settings) throws {
        self.settings = settings
        agentEndpoint = "tcp://\(settings.agentListenHost):0"
        try makeDirectories(settings.dir)
        for exe in ["coordd", "tune-agent"] where !fileExists(settings.binDir + "/" + exe) {
            throw ControlError("\(exe) not found next to this program (in \(settings.binDir)); build all products first")
        }
        keys = settings.curve ? try Self.writeKeys(in: settings.dir) : nil
    }

    deinit { stopAll() }

    public var client: ControlClient {
        ControlClient(endpoint: controlEndpoint, timeout: 10, curve: keys.map { CurveClientKeys(serverPublicKey: $0.coordinator.publicKey, keys: $0.operatorKeys) })
    }

    /// Fresh key pairs and the allow-list (operator and agents), as `coordctl keygen` writes them.
    static func writeKeys(in dir: String) throws -> Keys {
        let coordinator = try CurveKeyPair.generate(), op = try CurveKeyPair.generate(), agents = try CurveKeyPair.generate()
        let k = Keys(coordinator: coordinator, operatorKeys: op, agents: agents,
                     coordinatorKeyFile: dir + "/coordd.key", coordinatorPublicFile: dir + "/coordd.pub",
                     agentKeyFile: dir + "/agents.key", allowFile: dir + "/allow.txt")
        try writeFile(k.coordinatorKeyFile, CurveKeyFile.format(coordinator, name: "coordd"), mode: 0o600)
        try writeFile(k.coordinatorPublicFile, CurveKeyFile.formatPublic(coordinator.publicKey, name: "coordd"))
        try writeFile(k.agentKeyFile, CurveKeyFile.format(agents, name: "agents"), mode: 0o600)
        try writeFile(dir + "/operator.key", CurveKeyFile.format(op, name: "operator"), mode: 0o600)
        try writeFile(k.allowFile, "operator \(op.publicKey) operator\nagent \(agents.publicKey) agents\n")
        return k
    }

    /// Starts coordd on the database; the first start picks free ports, later starts reuse
    /// them so agents find the coordinator again.
    public func startCoordinator() throws {
        let ready = settings.dir + "/coordd.ready"
        unlink(ready)
        // OpenMP workers (XGBoost's) sleep instead of spinning between parallel regions:
        // a spinning worker steals the core an agent is timing on.
        var env = ProcessInfo.processInfo.environment
        if env["OMP_WAIT_POLICY"] == nil { env["OMP_WAIT_POLICY"] = "PASSIVE" }
        let p = try ChildProcess(executable: settings.binDir + "/coordd",
                                 arguments: ["--listen", agentEndpoint, "--control", controlEndpoint, "--db", databasePath,
                                             "--heartbeat", "\(settings.heartbeat)", "--batch-size", "\(settings.batchSize)",
                                             "--ready-file", ready, "--events", eventsPath] + settings.coordinatorArguments
                                    + (keys.map { ["--key", $0.coordinatorKeyFile, "--allow", $0.allowFile] } ?? []),
                                 environment: env,
                                 stdout: .file(settings.dir + "/coordd.log"), stderr: .file(settings.dir + "/coordd.log"),
                                 newProcessGroup: true)
        coordinator = p
        let deadline = Monotonic.now() + 60
        while !fileExists(ready) {
            if let status = p.poll() { throw ControlError("coordd exited (\(status)) before listening; see \(settings.dir)/coordd.log") }
            if Monotonic.now() > deadline { throw ControlError("coordd did not start listening within 60 s") }
            Monotonic.sleep(0.02)
        }
        struct Ready: Decodable { var agent: String; var control: String }
        guard let bytes = readFile(ready), let r = try? JSONDecoder().decode(Ready.self, from: Data(bytes)) else {
            throw ControlError("coordd wrote an unreadable ready file")
        }
        agentEndpoint = r.agent
        controlEndpoint = r.control
    }

    /// Starts an agent; with CURVE on it uses the cluster's agent key unless `keyFile` names another.
    /// `arguments` are more tune-agent flags for this agent alone (after the cluster's own);
    /// `coordinator` is the endpoint it dials (default: the one coordd reported); `launcher`
    /// runs it through another program (e.g. `ip netns exec NS`, which then execs the agent).
    @discardableResult
    public func startAgent(name: String, slots: Int = 1, keyFile: String? = nil, arguments: [String] = [],
                           coordinator: String? = nil, launcher: [String] = []) throws -> ChildProcess {
        var env = ProcessInfo.processInfo.environment
        env.merge(settings.agentEnvironment) { _, new in new }
        let work = settings.dir + "/" + name
        let agent = settings.binDir + "/tune-agent"
        let p = try ChildProcess(executable: launcher.first ?? agent,
                                 arguments: (launcher.isEmpty ? [] : Array(launcher.dropFirst()) + [agent])
                                    + ["--coordinator", coordinator ?? agentEndpoint, "--name", name, "--slots", "\(slots)",
                                             "--heartbeat", "\(settings.heartbeat)", "--work-dir", work] + arguments
                                    + (keys.map { ["--key", keyFile ?? $0.agentKeyFile, "--server-key", $0.coordinatorPublicFile] } ?? []),
                                 environment: env,
                                 stdout: .file(settings.dir + "/\(name).log"), stderr: .file(settings.dir + "/\(name).log"),
                                 newProcessGroup: true)
        agents[name] = p
        return p
    }

    /// Starts `count` simulated agents in one process (`tune-agent sim`): the real protocol,
    /// no measurement. Stopping it (SIGTERM) writes its statistics to `statsFile`.
    @discardableResult
    public func startSimulatedAgents(name: String, count: Int, latencyMs: Double, statsFile: String, slots: Int = 1) throws -> ChildProcess {
        let p = try ChildProcess(executable: settings.binDir + "/tune-agent",
                                 arguments: ["sim", "--coordinator", agentEndpoint, "--count", "\(count)", "--latency-ms", "\(latencyMs)",
                                             "--name-prefix", name, "--stats", statsFile, "--slots", "\(slots)"]
                                    + (keys.map { ["--key", $0.agentKeyFile, "--server-key", $0.coordinatorPublicFile] } ?? []),
                                 stdout: .file(settings.dir + "/\(name).log"), stderr: .file(settings.dir + "/\(name).log"),
                                 newProcessGroup: true)
        agents[name] = p
        return p
    }

    /// The coordinator's process id, while it runs.
    public var coordinatorPID: Int32? { coordinator?.pid }

    /// Sends `signal` to an agent's whole process group (the agent and its worker).
    /// Sends `sig` to an agent's process group and waits for it (up to 10 s): how it ended.
    @discardableResult
    public func signalAgent(_ name: String, _ sig: Int32) -> ExitStatus? {
        guard let p = agents[name] else { return nil }
        kill(-p.pid, sig)
        let status = p.wait(timeout: 10)
        agents[name] = nil
        return status
    }

    /// Sends `sig` to coordd and leaves it running (e.g. SIGHUP: reload the allow-list).
    public func signalCoordinatorOnly(_ sig: Int32) {
        guard let p = coordinator else { return }
        kill(p.pid, sig)
    }

    /// Sends `sig` to coordd and waits for it (up to 10 s): how it ended.
    @discardableResult
    public func signalCoordinator(_ sig: Int32) -> ExitStatus? {
        guard let p = coordinator else { return nil }
        kill(-p.pid, sig)
        let status = p.wait(timeout: 10)
        coordinator = nil
        return status
    }

    /// Waits until `count` agents are connected (or throws after `timeout` seconds).
    public func waitForAgents(_ count: Int, timeout: Double = 60) throws {
        let deadline = Monotonic.now() + timeout
        while true {
            // The agent list is bounded; the connected count is not.
            if let s = try? client.status(), max(Int(s.agentsConnected), s.agents.filter({ $0.state != "lost" }).count) >= count { return }
            if Monotonic.now() > deadline { throw ControlError("\(count) agents did not connect within \(timeout) s") }
            Monotonic.sleep(0.05)
        }
    }

    /// SIGTERM to everyone, SIGKILL to stragglers; always safe to call again.
    public func stopAll() {
        for (_, p) in agents { kill(-p.pid, SIGTERM) }
        if let c = coordinator { kill(-c.pid, SIGTERM) }
        for (_, p) in agents where p.wait(timeout: 5) == nil { kill(-p.pid, SIGKILL); _ = p.wait(timeout: 5) }
        if let c = coordinator, c.wait(timeout: 5) == nil { kill(-c.pid, SIGKILL); _ = c.wait(timeout: 5) }
        agents = [:]
        coordinator = nil
    }
}
