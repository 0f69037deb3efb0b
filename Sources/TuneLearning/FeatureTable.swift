import TuneCore
import TuneFeatures

/// The feature table for outside tools (tools/compare_models.py): one row per labeled
/// record with its keys, the split columns TuneFleet uses, the label and every feature.
public enum FeatureTable {
    /// Columns before the features: task, device, device_class, target, group (an integer
    /// per (task, device)), networks (built-in workloads holding the task, `;`-separated),
    /// within_task_test (1 for the records the within_task split with seed 1 tests on),
    /// seconds, label.
    public static let keyColumns = ["task", "device", "device_class", "target", "group", "networks", "within_task_test", "seconds", "label"]

    public static func csv(records: [TuningRecord], profiles: [String: DeviceProfile], networks: [Workload]) throws -> String {
        let builder = DatasetBuilder()
        let built = try builder.build(Labels.label(records), profiles: profiles)
        let test = Set(Splitter.withinTask(built.records, seed: 1).test)
        var memberOf: [TaskSpec: [String]] = [:]
        for w in networks { for t in w.tasks { memberOf[t.task, default: []].append(w.name) } }
        func quote(_ s: String) -> String { s.contains(",") || s.contains("\"") ? "\"" + s.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : s }
        var out = (keyColumns + builder.extractor.schema.names).joined(separator: ",") + "\n"
        let d = built.data.featureCount
        for (i, r) in built.records.enumerated() {
            let p = profiles[r.record.device]
            var fields = [quote(r.record.task.name), r.record.device, r.record.deviceClass.rawValue, p?.target ?? "",
                          "\(built.data.groups[i])", (memberOf[r.record.task] ?? []).sorted().joined(separator: ";"),
                          test.contains(i) ? "1" : "0", "\(r.record.medianSeconds ?? 0)", "\(r.label)"]
            fields += built.data.features[i * d..<(i + 1) * d].map { "\($0)" }
            out += fields.joined(separator: ",") + "\n"
        }
        return out
    }
}
