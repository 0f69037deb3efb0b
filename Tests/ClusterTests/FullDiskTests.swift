import Foundation
import Testing
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif


/// A small tmpfs can be mounted here (root, and a kernel that allows it): the full-disk test
/// needs one, and is skipped with this reason where it cannot have it.
private let canMountTmpfs: Bool = {
    guard geteuid() == 0, let dir = try? makeTemporaryDirectory(prefix: "tmpfs-probe") else { return false }
    defer { removeTree(dir) }
    guard shell("mount -t tmpfs -o size=1m tmpfs \(dir)") else { return false }
    return shell("umount \(dir)")
}()

@Suite(.serialized) struct FullDisk {
    /// coordd's database on a small tmpfs that fills up: coordd stops acknowledging (the
    /// results wait, unacknowledged), says so in its log and in status, and when space is
    /// freed commits them and the campaign completes with exactly its trials, nothing twice.
    @Test(.enabled(if: canMountTmpfs, "needs root to mount a tmpfs for the database"))
    func aFullDiskStopsAcknowledgingSaysSoAndTheCampaignCompletesWhenSpaceIsFreed() throws {
        let mnt = try makeTemporaryDirectory(prefix: "full-disk")
        #expect(shell("mount -t tmpfs -o size=16m tmpfs \(mnt)"))
        defer { shell("umount -l \(mnt)"); removeTree(mnt) }
        let db = mnt + "/tunefleet.db"
        let cluster = try makeCluster(agents: 1, coordinatorArguments: ["--db", db, "--retrain-every", "0"])
        defer { cluster.stopAll() }
        let trials = 12
        let id = try launch(cluster, try smallWorkload(), trials: trials)
        try waitFor(cluster, campaign: id) { $0.trialsDone >= 2 }

        // Fill the file system to the last byte.
        let fill = mnt + "/fill"
        let fd = open(fill, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        #expect(fd >= 0)
        let chunk = [UInt8](repeating: 0, count: 1 << 16)
        while chunk.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)

        // The store refuses writes: status says so (and the log), results wait.
        var problem: String?
        let deadline = Monotonic.now() + 120
        while problem == nil && Monotonic.now() < deadline {
            problem = try? StatusJSON(cluster.client.status()).storage_problem
            if problem == nil { usleep(100_000) }
        }
        #expect(problem?.isEmpty == false, "status names the storage problem")
        let log = (try? String(contentsOfFile: cluster.settings.dir + "/coordd.log", encoding: .utf8)) ?? ""
        #expect(log.contains("is the disk full?"), "the log says so")

        // Space again: everything waiting is committed and the campaign completes.
        unlink(fill)
        let done = try waitFor(cluster, campaign: id, timeout: 300) { $0.state == "completed" }
        #expect(done.trialsDone == UInt32(2 * trials))
        #expect(try StatusJSON(cluster.client.status()).storage_problem == nil)
        cluster.stopAll()
        let rows = try Store(readOnlyPath: db).export(campaign: id)
        #expect(rows.count == 2 * trials)
        #expect(Set(rows.map(\.candidate)).count == rows.count, "every result once")
    }
}
