import Foundation
import Testing
import TuneConsole
import TuneCore
import TuneStore
import TuneSystem
#if canImport(Glibc)
import Glibc
#endif

/// Network namespaces and veth links can be made here (root, iproute2, a kernel that allows
/// them): the partition test needs them, and is skipped with this reason where it cannot.
private let canMakeNetworkNamespaces: Bool = {
    guard geteuid() == 0 else { return false }
    let probe = "tf-probe-\(getpid())"
    guard shell("ip netns add \(probe)") else { return false }
    return shell("ip netns delete \(probe)")
}()

/// Test hosts: one network namespace per agent, joined to this (coordd's) namespace by a veth
/// link on a subnet of its own. Everything it made goes away with `remove()`.
private struct TestHosts {
    struct Host { var namespace: String; var link: String; var address: String; var coordinatorAddress: String }
    var hosts: [Host] = []

    init(count: Int) throws {
        let tag = String(format: "%04x", UInt32(getpid() & 0xffff) ^ UInt32.random(in: 0...0xffff))
        let octet = Int.random(in: 100...250)
        for i in 1...count {
            let host = Host(namespace: "tf-\(tag)-\(i)", link: "tfh\(tag)\(i)", address: "10.\(octet).\(i).2",
                            coordinatorAddress: "10.\(octet).\(i).1")
            let peer = "tfa\(tag)\(i)"
            hosts.append(host)
            let steps = [
                "ip netns add \(host.namespace)",
                "ip link add \(host.link) type veth peer name \(peer)",
                "ip link set \(peer) netns \(host.namespace)",
                "ip addr add \(host.coordinatorAddress)/24 dev \(host.link)",
                "ip link set \(host.link) up",
                "ip -n \(host.namespace) addr add \(host.address)/24 dev \(peer)",
                "ip -n \(host.namespace) link set \(peer) up",
                "ip -n \(host.namespace) link set lo up",
            ]
            for step in steps where !shell(step) {
                remove()
                throw ControlError("could not make test host \(host.namespace): '\(step)' failed")
            }
        }
    }

    /// Deleting a namespace deletes its end of the veth pair, and with it the pair.
    func remove() {
        for h in hosts { shell("ip netns delete \(h.namespace)"); shell("ip link delete \(h.link)") }
    }

    func setLink(_ host: Host, up: Bool) -> Bool { shell("ip link set \(host.link) \(up ? "up" : "down")") }
}

@Suite(.serialized) struct NetworkPartition {
    /// Two agents on hosts of their own (network namespaces, veth links, CURVE keys on). One
    /// host's link goes down for longer than the heartbeat timeout: coordd declares that agent
    /// lost and its batch goes to the other. The link comes back: the agent rejoins, whatever
    /// it still held is refused or deduplicated, and the campaign completes with exactly its
    /// trials, every result once.
    @Test(.enabled(if: canMakeNetworkNamespaces, "needs root and iproute2 to make network namespaces and veth links"))
    func aPartitionedAgentLosesAndDuplicatesNothingAndTheCampaignCompletes() throws {
        let net = try TestHosts(count: 2)
        defer { net.remove() }
        guard let bin = executableDirectory() else { throw ControlError("no executable directory") }
        var settings = LocalCluster.Settings(binDir: bin, dir: try makeTemporaryDirectory(prefix: "partition"))
        settings.heartbeat = 0.5
        settings.batchSize = 2
        settings.agentListenHost = "0.0.0.0"
        let cluster = try LocalCluster(settings: settings)
        defer { cluster.stopAll() }
        try cluster.startCoordinator()
        let port = try #require(cluster.agentEndpoint.split(separator: ":").last)
        for (i, host) in net.hosts.enumerated() {
            try cluster.startAgent(name: "host-\(i + 1)", coordinator: "tcp://\(host.coordinatorAddress):\(port)",
                                   launcher: ["/usr/sbin/ip", "netns", "exec", host.namespace])
        }
        try cluster.waitForAgents(2)

        let trials = 12
        let id = try launch(cluster, try smallWorkload(), trials: trials)
        try waitFor(cluster, campaign: id) { $0.trialsDone >= 3 }

        // Partition host-1 until coordd has given it up.
        let cut = net.hosts[0]
        #expect(net.setLink(cut, up: false))
        var lost = false
        let deadline = Monotonic.now() + 30
        while !lost && Monotonic.now() < deadline {
            lost = (try? cluster.client.status().agents.contains { $0.name == "host-1" && $0.state == "lost" }) ?? false
            if !lost { Monotonic.sleep(0.05) }
        }
        #expect(lost, "coordd declared the partitioned agent lost")
        let during = try waitFor(cluster, campaign: id) { _ in true }.trialsDone
        try waitFor(cluster, campaign: id) { $0.trialsDone > during || $0.state == "completed" }
        #expect(net.setLink(cut, up: true))

        let done = try waitFor(cluster, campaign: id) { $0.state == "completed" }
        #expect(done.trialsDone == UInt32(2 * trials))
        let rows = try Store(readOnlyPath: cluster.databasePath).export(campaign: id)
        #expect(rows.count == 2 * trials, "nothing lost")
        #expect(Set(rows.map(\.candidate)).count == rows.count, "nothing stored twice")
        for task in Set(rows.map(\.task)) {
            #expect(Set(rows.filter { $0.task == task }.map(\.schedule)).count == trials, "distinct schedules per task")
        }
        #expect(Set(rows.map(\.agent)).isSubset(of: ["host-1", "host-2"]))

        // The partitioned agent finds its way back by itself.
        var back = false
        let rejoin = Monotonic.now() + 60
        while !back && Monotonic.now() < rejoin {
            back = (try? cluster.client.status().agents.contains { $0.name == "host-1" && $0.state != "lost" }) ?? false
            if !back { Monotonic.sleep(0.1) }
        }
        #expect(back, "the partitioned agent rejoined (logs in \(cluster.settings.dir))")
    }
}
