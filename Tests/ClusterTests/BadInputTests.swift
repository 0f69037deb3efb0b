import Foundation
import Testing
import TuneConfig
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem
import TuneTransport
import TuneWire
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct ClusterBadInput {
    /// Sends one raw frame from a fresh DEALER holding the cluster's agent key (a peer on the
    /// allow-list that misbehaves) and returns the coordinator's answer.
    func exchange(_ cluster: LocalCluster, _ payload: [UInt8]) throws -> Body? {
        let ctx = ZMQContext()
        let s = try ZMQSocket(ctx, .dealer)
        if let k = cluster.keys {
            try s.makeCurveClient(CurveClientKeys(serverPublicKey: k.coordinator.publicKey, keys: k.agents))
        }
        try s.connect(cluster.agentEndpoint)
        try s.send([payload])
        guard try ZMQPoller.pollInput([s], timeout: 30)[0], let frames = try s.receive() else { return nil }
        return try Wire.decode(frames[0])
    }

    @Test func anAgentKeyCannotUseTheControlSocketNorAnOperatorKeyTheAgentSocket() throws {
        let cluster = try makeCluster(agents: 0)
        defer { cluster.stopAll() }
        let k = try #require(cluster.keys)
        let asAgent = ControlClient(endpoint: cluster.controlEndpoint, timeout: 2,
                                    curve: CurveClientKeys(serverPublicKey: k.coordinator.publicKey, keys: k.agents))
        #expect(throws: (any Error).self) { _ = try asAgent.status() }
        #expect(try cluster.client.status().campaigns.isEmpty, "the operator key still works")
        // The operator key on the agent socket: its handshake is refused, nothing gets an answer.
        let ctx = ZMQContext()
        let s = try ZMQSocket(ctx, .dealer)
        try s.makeCurveClient(CurveClientKeys(serverPublicKey: k.coordinator.publicKey, keys: k.operatorKeys))
        try s.connect(cluster.agentEndpoint)
        try s.send([Wire.encode(.heartbeat(.init()))])
        #expect(try ZMQPoller.pollInput([s], timeout: 2) == [false])
        let refused = cluster.events().compactMap { e -> String? in if case .keyRefused(let key, _) = e { return key }; return nil }
        #expect(Set(refused) == [k.agents.publicKey, k.operatorKeys.publicKey], "both refusals reported: \(refused)")
    }

    @Test func malformedOversizedAndWrongVersionMessagesAreRejectedAndTheClusterKeepsWorking() throws {
        let cluster = try makeCluster(agents: 1)
        defer { cluster.stopAll() }

        guard case .reject(let garbage)? = try exchange(cluster, [0xde, 0xad, 0xbe, 0xef, 0xff]) else {
            Issue.record("no reject for garbage"); return
        }
        #expect(garbage.code == .malformed)
        #expect(garbage.reason.contains("malformed"))

        let big = [UInt8](repeating: 7, count: WireLimits.standard.maxMessageBytes + 1)
        guard case .reject(let oversized)? = try exchange(cluster, big) else {
            Issue.record("no reject for an oversized message"); return
        }
        #expect(oversized.reason.contains("exceeds the limit"))

        guard case .reject(let version)? = try exchange(cluster, Wire.encode(.heartbeat(.init()), version: 42)) else {
            Issue.record("no reject for a wrong version"); return
        }
        #expect(version.code == .badVersion)
        #expect(version.supportedVersion == protocolVersion)

        // A result from a peer that never said hello is refused, not stored.
        var r = Tunefleet_V1_MeasureResult()
        r.candidateID = 1
        r.status = .ok
        r.samples = [1]
        guard case .reject(let stranger)? = try exchange(cluster, Wire.encode(.measureResult(r))) else {
            Issue.record("no reject for a stranger's result"); return
        }
        #expect(stranger.code == .unknownSession)

        let id = try launch(cluster, try smallWorkload(), trials: 3)
        let done = try waitFor(cluster, campaign: id) { $0.state == "completed" }
        #expect(done.trialsDone == 6)

        // More threads than any connected CPU agent has: refused at launch, nothing created.
        var greedy = MeasurePlan()
        greedy.threads = 512
        #expect(throws: (any Error).self) {
            _ = try cluster.client.launch(workload: try smallWorkload(), trials: 1, devices: [.cpu], batchSize: 1, plan: greedy, seed: 1)
        }
        do {
            _ = try cluster.client.launch(workload: try smallWorkload(), trials: 1, devices: [.cpu], batchSize: 1, plan: greedy, seed: 1)
        } catch {
            #expect("\(error)".contains("threads 512 exceed the hardware threads of every connected cpu agent"), "\(error)")
        }
        #expect(try cluster.client.status().campaigns.count == 1)
        #expect(cluster.events().contains { if case .messageRejected = $0 { return true }; return false }, "the rejection is reported")
    }
}

@Suite(.serialized) struct OneCoordinatorPerDatabase {
    @Test func aSecondCoorddOnADatabaseInUseRefusesAndAFailedStartLeavesNoDatabase() throws {
        let cluster = try makeCluster(agents: 0)
        defer { cluster.stopAll() }
        let bin = try #require(executableDirectory())
        let dir = try makeTemporaryDirectory(prefix: "onedb")
        defer { removeTree(dir) }
        let second = try runCommand(bin + "/coordd", ["--db", cluster.databasePath, "--listen", "tcp://127.0.0.1:0",
                                                      "--control", "tcp://127.0.0.1:0"], timeout: 60, outputFile: dir + "/second")
        #expect(second.status != .exited(0))
        #expect(second.output.contains("is in use by another coordd (pid"), "\(second.output)")
        #expect(second.output.contains("one coordinator per database"))
        // The first one is unharmed.
        #expect(try cluster.client.status().campaigns.isEmpty)

        // A port already taken: a clear message and no empty database left behind.
        let fresh = dir + "/fresh.db"
        let taken = try runCommand(bin + "/coordd", ["--db", fresh, "--listen", cluster.agentEndpoint, "--control", "tcp://127.0.0.1:0"],
                                   timeout: 60, outputFile: dir + "/taken")
        #expect(taken.status != .exited(0))
        #expect(taken.output.contains("cannot listen"), "\(taken.output)")
        #expect(!fileExists(fresh), "no database left behind")

        let missing = try runCommand(bin + "/coordd", ["--db", dir + "/no/such/folder/t.db"], timeout: 60, outputFile: dir + "/missing")
        #expect(missing.status != .exited(0))
        #expect(missing.output.contains("the folder \(dir)/no/such/folder does not exist"), "\(missing.output)")
    }
}

@Suite struct CommandLineErrors {
    func run(_ exe: String, _ args: [String]) throws -> CommandOutcome {
        let bin = try #require(executableDirectory())
        let dir = try makeTemporaryDirectory(prefix: "cli")
        defer { removeTree(dir) }
        return try runCommand(bin + "/" + exe, args, timeout: 60, outputFile: dir + "/out")
    }

    @Test(arguments: [
        (["campaign", "launch", "--workload", "no-such-network", "--trials", "4"], "unknown workload 'no-such-network'"),
        (["campaign", "launch", "--workload", "demo", "--trials", "0"], "--trials must be"),
        (["campaign", "launch", "--workload", "demo"], "give --trials (per task), --budget (over the workload) or --time"),
        (["campaign", "launch", "--workload", "demo", "--time", "soon"], "--time 'soon' is not a duration"),
        (["campaign", "launch", "--workload", "demo", "--trials", "4", "--run-timeout", "0"], "--run-timeout must be more than 0"),
        (["campaign", "launch", "--workload", "demo", "--trials", "4", "--compile-timeout", "nan"], "--compile-timeout must be more than 0"),
        (["report", "--db", "/nonexistent/x.db", "--campaign", "1", "-o", "/tmp/r"], "no database at /nonexistent/x.db"),
        (["bench", "search", "--workload", "demo", "--budget", "0"], "--budget must be 1...1000000"),
        (["bench", "search", "--workload", "demo", "--budget", "5", "--methods", "genetic"], "unknown method 'genetic'"),
        (["bench", "search", "--workload", "demo", "--budget", "5", "--device", "tpu"], "--device must be cpu or cuda"),
        (["bench", "search", "--workload", "demo", "--budget", "5", "--time", "later"], "--time 'later' is not a duration"),
        (["campaign", "launch", "--workload", "demo", "--budget", "5", "--strategy", "annealing"], "unknown --strategy 'annealing'"),
        (["bench", "cpu", "--strategy", "annealing"], "unknown --strategy 'annealing'"),
        (["model", "eval", "--db", "x.db", "--split", "by_target", "--holdout", "x86-64-v3", "--shots", "0,8", "--adapt-eta", "2"],
         "--adapt-eta must be in (0, 1]"),
        (["campaign", "launch", "--workload", "demo", "--budget", "5", "--scheduler", "fifo"], "unknown --scheduler 'fifo'"),
        (["campaign", "launch", "--workload", "demo", "--trials", "2", "--device", "tpu"], "unknown device class 'tpu'"),
        (["export", "--db", "/nonexistent/x.db", "--format", "csv"], "no database at /nonexistent/x.db"),
        (["export", "--db", "x.db", "--format", "xml"], "--format must be jsonl or csv"),
        (["model", "eval", "--db", "x.db", "--split", "within_task", "--eta", "0"], "--eta must be in (0, 1]"),
        (["model", "train", "--db", "x.db", "--max-depth", "40"], "--max-depth must be 1...16"),
        (["model", "train", "--db", "x.db", "--subsample", "1.5"], "--subsample must be in (0, 1]"),
        (["model", "train", "--db", "x.db", "--mlp-hidden", "256,,64"], "--mlp-hidden must be 1 to 6 comma-separated widths"),
        (["model", "eval", "--db", "x.db", "--split", "within_task", "--mlp-epochs", "0"], "--mlp-epochs must be 1...1000"),
        (["frobnicate"], "Unexpected argument 'frobnicate'"),
    ])
    func coordctlRefusesBadArguments(args: [String], message: String) throws {
        let r = try run("coordctl", args)
        #expect(r.status != .exited(0))
        #expect(r.output.contains(message), "\(r.output)")
    }

    @Test func aBadWorkloadFileNamesTheLine() throws {
        let dir = try makeTemporaryDirectory(prefix: "wl")
        defer { removeTree(dir) }
        try writeFile(dir + "/net.txt", "1 matmul m=4 n=4 k=4\n2 matmul m=4 n=4\n")
        let r = try run("coordctl", ["campaign", "launch", "--workload", dir + "/net.txt", "--trials", "2"])
        #expect(r.status != .exited(0))
        #expect(r.output.contains("line 2: matmul: missing parameter 'k'"), "\(r.output)")
    }

    /// A bench run must start from an empty database: an earlier run's folder is refused
    /// before anything starts (its measurements would feed the next run's transfer-tuning).
    @Test func benchSearchRefusesAFolderWithAnEarlierRun() throws {
        let dir = try makeTemporaryDirectory(prefix: "bench")
        defer { removeTree(dir) }
        try makeDirectories(dir + "/transfer-1")
        let r = try run("coordctl", ["bench", "search", "--workload", "demo", "--budget", "5", "--methods", "random,transfer", "-o", dir])
        #expect(r.status != .exited(0))
        #expect(r.output.contains("\(dir)/transfer-1 exists (an earlier run?): give -o a new or empty folder"), "\(r.output)")
        #expect(!FileManager.default.fileExists(atPath: dir + "/random-1"), "nothing started")
    }

    @Test func launchingWithoutACoordinatorSaysSo() throws {
        // Nothing listens on port 1 of loopback (binding it needs privileges no test has).
        let r = try run("coordctl", ["status", "--control", "tcp://127.0.0.1:1", "--request-timeout", "1"])
        #expect(r.status != .exited(0))
        #expect(r.output.contains("no answer from the coordinator at tcp://127.0.0.1:1 within 1.0 s"), "\(r.output)")
        #expect(r.output.contains("is coordd running?"), "the message says what to check: \(r.output)")
        // The documented form, connection options before the subcommand, means the same.
        let before = try run("coordctl", ["--control", "tcp://127.0.0.1:1", "--request-timeout", "1", "status"])
        #expect(before.output.contains("no answer from the coordinator at tcp://127.0.0.1:1 within 1.0 s"), "\(before.output)")
    }

    @Test func coorddRefusesToListenBeyondLoopbackWithoutKeys() throws {
        let r = try run("coordd", ["--listen", "tcp://0.0.0.0:7700", "--db", "/tmp/never.db"])
        #expect(r.status != .exited(0))
        #expect(r.output.contains("--insecure"), "\(r.output)")
    }

    @Test func keyOptionsComeInPairsAndBadKeyFilesNameTheProblem() throws {
        let dir = try makeTemporaryDirectory(prefix: "keys")
        defer { removeTree(dir) }
        let half = try run("coordd", ["--key", dir + "/server.key", "--db", dir + "/t.db"])
        #expect(half.status != .exited(0) && half.output.contains("--key and --allow go together"), "\(half.output)")
        let agent = try run("tune-agent", ["--key", dir + "/a.key"])
        #expect(agent.status != .exited(0) && agent.output.contains("--key and --server-key go together"), "\(agent.output)")

        let gen = try run("coordctl", ["keygen", dir + "/server"])
        #expect(gen.status == .exited(0), "\(gen.output)")
        let line = try #require(gen.output.split(separator: "\n").first { $0.hasPrefix("agent ") }, "\(gen.output)")
        #expect(try AllowList.parse(String(line)).roles.values.first == .agent, "the printed line is an allow-list entry with its role")
        let op = try run("coordctl", ["keygen", dir + "/op", "--role", "operator"])
        #expect(op.output.contains("\noperator ") || op.output.hasPrefix("operator "), "\(op.output)")
        let badRole = try run("coordctl", ["keygen", dir + "/x", "--role", "admin"])
        #expect(badRole.status != .exited(0) && badRole.output.contains("--role must be agent or operator"), "\(badRole.output)")
        let again = try run("coordctl", ["keygen", dir + "/server"])
        #expect(again.status != .exited(0) && again.output.contains("exists; --force replaces it"), "\(again.output)")
        try writeFile(dir + "/allow.txt", "# agents\nnot-a-key gpu-1\n")
        let bad = try run("coordd", ["--key", dir + "/server.key", "--allow", dir + "/allow.txt", "--db", dir + "/t.db"])
        #expect(bad.status != .exited(0))
        #expect(bad.output.contains("allow.txt: line 2: 'not-a-key' is not a 40-character Z85 public key"), "\(bad.output)")
        // A public file where the pair is needed.
        let pubOnly = try run("coordd", ["--key", dir + "/server.pub", "--allow", dir + "/server.pub", "--db", dir + "/t.db"])
        #expect(pubOnly.status != .exited(0) && pubOnly.output.contains("needs the key pair"), "\(pubOnly.output)")
    }

    /// The example settings files in deploy/ name every setting of their command (a new flag
    /// without its line fails here) and are accepted by the real binaries.
    @Test(arguments: [(["coordd"], "coordd.toml"), (["tune-agent", "serve"], "tune-agent.toml")])
    func theDeployedSettingsFilesListEverySetting(command: [String], file: String) throws {
        let deploy = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("deploy").path
        let text = try String(contentsOfFile: deploy + "/" + file, encoding: .utf8)
        let dump = try run(command[0], Array(command.dropFirst()) + ["--experimental-dump-help"])
        let settings = CommandSettings.settings(dumpedHelp: dump.output)
        #expect(settings.count > 10, "the settings were read: \(dump.output.prefix(200))")
        for s in settings {
            #expect(text.contains("\n\(s.name) = ") || text.contains("\n# \(s.name) = "), "\(file) documents '\(s.name)'")
        }
        let help = try run(command[0], Array(command.dropFirst()) + ["--config", deploy + "/" + file, "--help"])
        #expect(help.status == .exited(0), "\(file) is accepted: \(help.output)")
    }

    /// A settings file's values reach the command's own checks and its run; bad files name the file and the key.
    @Test func settingsFilesConfigureTheDaemonsAndBadOnesAreRefused() throws {
        let dir = try makeTemporaryDirectory(prefix: "config")
        defer { removeTree(dir) }
        try writeFile(dir + "/bad-key.toml", "db = \"x.db\"\nbatchsize = 8\n")
        let unknown = try run("coordd", ["--config", dir + "/bad-key.toml"])
        #expect(unknown.status == .exited(2))
        #expect(unknown.output.contains("\(dir)/bad-key.toml: unknown setting 'batchsize' (did you mean 'batch-size'?)"), "\(unknown.output)")
        try writeFile(dir + "/syntax.toml", "db = \"x.db\"\nheartbeat = = 1\n")
        let syntax = try run("coordd", ["--config", dir + "/syntax.toml"])
        #expect(syntax.status == .exited(2) && syntax.output.contains("\(dir)/syntax.toml:2:"), "\(syntax.output)")
        let missing = try run("coordd", ["--config", dir + "/none.toml"])
        #expect(missing.status == .exited(2) && missing.output.contains("cannot read the settings file \(dir)/none.toml"), "\(missing.output)")

        // The file's values are checked like flags, and used: the database folder comes from the file.
        try writeFile(dir + "/coordd.toml", "heartbeat = -1\ndb = \"\(dir)/no/such/folder/t.db\"\n")
        let checked = try run("coordd", ["--config", dir + "/coordd.toml"])
        #expect(checked.status != .exited(0) && checked.output.contains("--heartbeat must be in (0, 60]"), "\(checked.output)")
        let used = try run("coordd", ["--config", dir + "/coordd.toml", "--heartbeat", "0.5"])
        #expect(used.output.contains("the folder \(dir)/no/such/folder does not exist"), "the command line won for heartbeat and the file's db was used: \(used.output)")

        try writeFile(dir + "/agent.toml", "device = \"tpu\"\nslots = 2\n")
        let agent = try run("tune-agent", ["--config", dir + "/agent.toml"])
        #expect(agent.status != .exited(0) && agent.output.contains("unknown device 'tpu'"), "\(agent.output)")
        try writeFile(dir + "/agent.toml", "slots = true\n")
        let typed = try run("tune-agent", ["serve", "--config", dir + "/agent.toml"])
        #expect(typed.status == .exited(2) && typed.output.contains("setting 'slots' must be a string or a number, not a bool"), "\(typed.output)")
    }

    /// An agent whose log reader went away (its stdout pipe closed) still stops cleanly on
    /// SIGTERM instead of dying of SIGPIPE at its next log line.
    @Test func anAgentOutlivesItsLogReader() throws {
        let bin = try #require(executableDirectory())
        let dir = try makeTemporaryDirectory(prefix: "sigpipe")
        defer { removeTree(dir) }
        // Nothing listens on port 1 of loopback: the agent keeps trying and logging.
        // Its log (standard error) goes into the pipe; `exec` makes the shell the agent itself.
        let p = try ChildProcess(executable: "/bin/sh",
                                 arguments: ["-c", "exec \"$0\" --coordinator tcp://127.0.0.1:1 --work-dir \"$1\" --heartbeat 0.2 2>&1",
                                             bin + "/tune-agent", dir],
                                 stdout: .pipe, stderr: .null, newProcessGroup: true)
        // Read its log until it is connecting (its stop handlers are up by then), then close it.
        var seen = ""
        var buffer = [UInt8](repeating: 0, count: 4096)
        let deadline = Monotonic.now() + 60
        while !seen.contains("connecting to") && Monotonic.now() < deadline {
            var pfd = pollfd(fd: p.stdoutFD, events: Int16(POLLIN), revents: 0)
            guard Glibc.poll(&pfd, 1, 1000) >= 0 else { break }
            if pfd.revents != 0 {
                let n = read(p.stdoutFD, &buffer, buffer.count)
                if n <= 0 { break }
                seen += String(decoding: buffer[0..<n], as: UTF8.self)
            }
        }
        #expect(seen.contains("connecting to"), "the agent logged: \(seen)")
        p.closePipes()
        p.signal(SIGTERM)
        let status = p.wait(timeout: 30)
        if status == nil { p.signal(SIGKILL); _ = p.wait(timeout: 5) }
        #expect(status == .exited(0), "stopped cleanly, not by SIGPIPE: \(String(describing: status))")
    }

    @Test func tuneAgentRefusesBadArguments() throws {
        let r = try run("tune-agent", ["--slots", "0"])
        #expect(r.status != .exited(0))
        #expect(r.output.contains("--slots must be 1...64"), "\(r.output)")
        let d = try run("tune-agent", ["probe", "--device", "tpu"])
        #expect(d.status != .exited(0))
        #expect(d.output.contains("unknown device 'tpu'"), "\(d.output)")
    }
}

@Suite struct AgentSelfTest {
    @Test func theCPUWorkerSurvivesCrashesHangsAndWrongAnswers() throws {
        let bin = try #require(executableDirectory())
        let dir = try makeTemporaryDirectory(prefix: "selftest")
        defer { removeTree(dir) }
        let r = try runCommand(bin + "/tune-agent", ["selftest", "--device", "cpu", "--run-timeout", "1"], timeout: 120,
                               outputFile: dir + "/out")
        #expect(r.status == .exited(0), "\(r.output)")
        #expect(r.output.contains("all isolation checks passed"))
        #expect(r.output.contains("SIGSEGV"))
        #expect(r.output.contains("PASS  stop signal to the process group: ok, worker kept"), "\(r.output)")
    }
}

@Suite(.serialized) struct SimulatedAgentsLoad {
    /// The load tool's agents speak the real protocol: a budget campaign through them ends with
    /// exactly its budget stored, every candidate once, and every stored result acknowledged.
    /// With two slots an agent holds a second batch while it measures the first.
    @Test(arguments: [1, 2])
    func simulatedAgentsCompleteABudgetCampaignWithNothingLostOrTwice(slots: Int) throws {
        let cluster = try makeCluster(agents: 0)
        defer { cluster.stopAll() }
        let stats = cluster.settings.dir + "/sim-stats.json"
        try cluster.startSimulatedAgents(name: "sim", count: 5, latencyMs: 1, statsFile: stats, slots: slots)
        try cluster.waitForAgents(5)
        var plan = MeasurePlan()
        plan.repeats = 1
        let id = try cluster.client.launch(workload: try smallWorkload(), trials: 0, devices: [.cpu], batchSize: 3, plan: plan, seed: 3,
                                           budget: 60)
        _ = try waitFor(cluster, campaign: id) { $0.state == "completed" }
        cluster.stopAll()
        let rows = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(rows.count == 60)
        #expect(Set(rows.map(\.candidate)).count == 60)
        #expect(Set(rows.map(\.agent)).count > 1, "the work was shared: \(Set(rows.map(\.agent)))")
        struct Stats: Decodable { var acknowledged: Int; var agents: Int }
        let s = try JSONDecoder().decode(Stats.self, from: Data(try #require(readFile(stats))))
        #expect(s.agents == 5 && s.acknowledged == 60)
    }
}
