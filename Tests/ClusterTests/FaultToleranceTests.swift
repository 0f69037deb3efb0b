import Foundation
import Testing
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem
import TuneTransport
#if canImport(Glibc)
import Glibc
#endif

@Suite(.serialized) struct ClusterFaultTolerance {
    /// Killed (found by the heartbeat timeout) or stopped with SIGTERM (it says goodbye and
    /// exits cleanly), the agent's work is measured by the other, exactly once.
    @Test(arguments: [SIGKILL, SIGTERM])
    func aCampaignCompletesWithItsExactBudgetAfterAnAgentIsStopped(signal: Int32) throws {
        let cluster = try makeCluster(agents: 2)
        defer { cluster.stopAll() }
        let trials = 10
        let id = try launch(cluster, try smallWorkload(), trials: trials)
        try waitFor(cluster, campaign: id) { $0.trialsDone >= 3 }
        let status = cluster.signalAgent("agent-1", signal)
        if signal == SIGTERM { #expect(status == .exited(0), "a stopped agent exits cleanly") }
        let done = try waitFor(cluster, campaign: id) { $0.state == "completed" }
        #expect(done.trialsDone == UInt32(2 * trials))

        let rows = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(rows.count == 2 * trials)
        #expect(Set(rows.map(\.candidate)).count == rows.count, "no candidate measured twice")
        for task in Set(rows.map(\.task)) {
            let mine = rows.filter { $0.task == task }
            #expect(mine.count == trials)
            #expect(Set(mine.map(\.schedule)).count == trials, "distinct schedules per task")
        }
        #expect(rows.filter { $0.status == "ok" }.count > 0)
    }

    /// Killed, or stopped with SIGTERM (it stops dispatching, commits what arrived and
    /// exits cleanly), coordd resumes on the same database without losing or repeating.
    @Test(arguments: [SIGKILL, SIGTERM])
    func aStoppedCoordinatorResumesOnTheSameDatabaseWithoutLosingOrRepeatingResults(signal: Int32) throws {
        let cluster = try makeCluster(agents: 2)
        defer { cluster.stopAll() }
        let trials = 10
        let id = try launch(cluster, try smallWorkload(), trials: trials)
        try waitFor(cluster, campaign: id) { $0.trialsDone >= 4 }
        let status = cluster.signalCoordinator(signal)
        if signal == SIGTERM { #expect(status == .exited(0), "a stopped coordd exits cleanly") }
        let before = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(before.count >= 4)

        try cluster.startCoordinator()
        let done = try waitFor(cluster, campaign: id) { $0.state == "completed" }
        #expect(done.trialsDone == UInt32(2 * trials))
        let after = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(after.count == 2 * trials)
        #expect(Set(after.map(\.candidate)).count == after.count, "every result once")
        let afterByCandidate = Dictionary(uniqueKeysWithValues: after.map { ($0.candidate, $0) })
        for r in before {
            #expect(afterByCandidate[r.candidate]?.medianSeconds == r.medianSeconds, "committed results survive unchanged")
        }
    }
}

@Suite struct ClusterKeys {
    /// The local cluster runs with CURVE keys: its agents and operator are on the
    /// allow-list; an agent with a key of its own and a client without keys get nowhere.
    @Test func onlyKeysOnTheAllowListJoin() throws {
        let cluster = try makeCluster(agents: 1)
        defer { cluster.stopAll() }
        let keys = try #require(cluster.keys)
        let intruder = try CurveKeyPair.generate()
        let intruderFile = cluster.settings.dir + "/intruder.key"
        try writeFile(intruderFile, CurveKeyFile.format(intruder, name: "intruder"), mode: 0o600)
        try cluster.startAgent(name: "intruder", keyFile: intruderFile)

        let id = try launch(cluster, try smallWorkload(), trials: 3)
        try waitFor(cluster, campaign: id) { $0.state == "completed" }
        let status = try cluster.client.status()
        #expect(status.agents.map(\.name) == ["agent-1"], "the intruder never became an agent")
        let rows = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(!rows.isEmpty && rows.allSatisfy { $0.agent == "agent-1" })
        #expect(cluster.events().contains { if case .keyRefused(intruder.publicKey, _) = $0 { return true }; return false },
                "the refusal is reported with the key")

        // Operators need a listed key too.
        let keyless = ControlClient(endpoint: cluster.controlEndpoint, timeout: 1)
        #expect(throws: ControlError.self) { _ = try keyless.status() }
        let stranger = ControlClient(endpoint: cluster.controlEndpoint, timeout: 1,
                                     curve: CurveClientKeys(serverPublicKey: keys.coordinator.publicKey, keys: intruder))
        #expect(throws: ControlError.self) { _ = try stranger.status() }
        // A broken allow-list on reload changes nothing; a good one admits the new key.
        let allowed = readTextFile(keys.allowFile) ?? ""
        /// Waits for coordd to report an event (the reload runs on its signal thread).
        func coorddReports(_ matches: (CoordinatorEvent) -> Bool) -> Bool {
            let deadline = Monotonic.now() + 30
            while Monotonic.now() < deadline {
                if cluster.events().contains(where: matches) { return true }
                Monotonic.sleep(0.05)
            }
            return false
        }
        try writeFile(keys.allowFile, allowed + "garbage\n")
        cluster.signalCoordinatorOnly(SIGHUP)
        #expect(coorddReports { if case .allowListKept = $0 { return true }; return false })
        try writeFile(keys.allowFile, allowed + "\(intruder.publicKey) late-joiner\n")
        cluster.signalCoordinatorOnly(SIGHUP)
        #expect(coorddReports { $0 == .allowListReloaded(keys: 3) })
        try cluster.waitForAgents(2)
        let names = Set(try cluster.client.status().agents.map(\.name))
        #expect(names == ["agent-1", "intruder"])

        // Secret key files are private to their owner.
        var st = stat()
        #expect(stat(keys.coordinatorKeyFile, &st) == 0 && st.st_mode & 0o777 == 0o600)
    }
}

@Suite struct ShippingKernels {
    /// `coordctl emit` after a real campaign: one file per task, each built by the line in
    /// its own header into a shared object.
    @Test func emittedSourceBuildsWithItsOwnBuildLine() throws {
        let cluster = try makeCluster(agents: 1)
        defer { cluster.stopAll() }
        let id = try launch(cluster, try smallWorkload(), trials: 3)
        try waitFor(cluster, campaign: id) { $0.state == "completed" }
        let bin = try #require(executableDirectory())
        let out = cluster.settings.dir + "/emitted"
        let r = try runCommand(bin + "/coordctl", ["emit", "--db", cluster.databasePath, "--campaign", "\(id)", "-o", out],
                               timeout: 60, outputFile: cluster.settings.dir + "/emit.out")
        #expect(r.status == .exited(0), "\(r.output)")
        let manifest = (readTextFile(out + "/MANIFEST.tsv") ?? "").split(separator: "\n").dropFirst()
        #expect(manifest.count == 2, "one kernel per task")
        for line in manifest {
            let file = String(line.split(separator: "\t")[0])
            let text = try #require(readTextFile(out + "/" + file))
            let build = try #require(text.split(separator: "\n").first { $0.hasPrefix("// build: ") })
            let words = build.dropFirst("// build: ".count).split(separator: " ").map(String.init)
            let cc = try #require(words.first)
            let compiler = cc.hasPrefix("/") ? cc : "/usr/bin/" + cc
            let b = try runCommand(compiler, Array(words.dropFirst()).map { $0 == file ? out + "/" + file : ($0 == "kernel.o" ? out + "/" + file + ".o" : $0) },
                                   timeout: 120, outputFile: out + "/build.log")
            #expect(b.status == .exited(0), "\(file): \(b.output)")
        }
        // And all of them at once, as a library.
        let make = try runCommand("/usr/bin/make", ["-s", "-C", out], timeout: 120, outputFile: out + "/make.log")
        #expect(make.status == .exited(0), "\(make.output)")
        #expect(FileManager.default.fileExists(atPath: out + "/libtunefleet_kernels.a"))
    }
}
