import ArgumentParser
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// The shell around `SettingsFile`: which settings a command has (from ArgumentParser's own
/// description of it, so a new flag is a new key with nothing else to edit) and the command
/// line with `--config FILE` read in.
public enum CommandSettings {
    /// Flags that are not settings: a file that asks for help or names another file is an error.
    static let excluded: Set<String> = ["help", "version", "config", "experimental-dump-help"]

    /// Every named flag and option of the command.
    public static func settings(of command: any ParsableArguments.Type) -> [Setting] {
        settings(dumpedHelp: command._dumpHelp())
    }

    /// The settings in ArgumentParser's description of a command (what `--experimental-dump-help` prints).
    public static func settings(dumpedHelp: String) -> [Setting] {
        struct Dump: Decodable {
            struct Command: Decodable { var arguments: [Argument]? }
            struct Argument: Decodable {
                struct Name: Decodable { var kind: String; var name: String }
                var kind: String
                var names: [Name]?
                var isRepeating: Bool
            }
            var command: Command
        }
        guard let dump = try? JSONDecoder().decode(Dump.self, from: Data(dumpedHelp.utf8)) else { return [] }
        return (dump.command.arguments ?? []).compactMap { argument in
            guard argument.kind != "positional", let names = argument.names,
                  let long = names.first(where: { $0.kind == "long" })?.name, !excluded.contains(long) else { return nil }
            let spellings = names.map { ($0.kind == "short" ? "-" : "--") + $0.name }
            let kind: Setting.Kind = argument.kind == "flag" ? .flag : (argument.isRepeating ? .repeating : .option)
            return Setting(name: long, spellings: spellings, kind: kind)
        }
    }

    /// The file `--config FILE` (or `--config=FILE`) names on the command line, if any.
    public static func configPath(in commandLine: [String]) -> String? {
        for (i, argument) in commandLine.enumerated() {
            if argument == "--" { return nil }
            if argument == "--config", i + 1 < commandLine.count { return commandLine[i + 1] }
            if argument.hasPrefix("--config=") { return String(argument.dropFirst("--config=".count)) }
        }
        return nil
    }

    /// The command line to parse: the settings file's arguments first, then the command
    /// line's, which win. Without `--config` it is the command line as given.
    public static func expand(_ commandLine: [String], command: any ParsableArguments.Type) throws -> [String] {
        guard let path = configPath(in: commandLine) else { return commandLine }
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw SettingsFileUnreadable(path: path, reason: "\(error)")
        }
        let settings = settings(of: command)
        let file = try SettingsFile.arguments(toml: text, file: path, settings: settings)
        return SettingsFile.merge(file: file, commandLine: commandLine, settings: settings)
    }
}

public struct SettingsFileUnreadable: Error, CustomStringConvertible {
    public var path: String
    public var reason: String
    public var description: String { "cannot read the settings file \(path): \(reason)" }
}
