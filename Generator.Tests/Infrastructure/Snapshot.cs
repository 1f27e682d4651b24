using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Runtime.CompilerServices;
using Microsoft.CodeAnalysis;
using Xunit.Sdk;

namespace AttentionGen.Testing;

/// <summary>
/// Snapshot checks of generated sources, with Verify.SourceGenerators' file conventions: one file per generated
/// source, <c>Snapshots/{Class}.{Method}#{HintName without .cs}.verified.cs</c>, starting with <c>//HintName:</c>.
/// A mismatch writes the new text beside it as <c>.received.cs</c> and fails; with ATTENTIONGEN_ACCEPT_SNAPSHOTS=1
/// the received text is accepted as the new verified file. A verified file that the test no longer produces fails
/// the test too, so the set of files is checked as well as their contents.
/// </summary>
internal static class Snapshot
{
    public const string AcceptVariable = "ATTENTIONGEN_ACCEPT_SNAPSHOTS";

    private static bool Accept => Environment.GetEnvironmentVariable(AcceptVariable) is "1" or "true";

    /// <summary>The test project's directory, stamped into the assembly at build time.</summary>
    public static string ProjectDirectory { get; } = typeof(Snapshot).Assembly
        .GetCustomAttributes<System.Reflection.AssemblyMetadataAttribute>()
        .Single(attribute => attribute.Key == "ProjectDirectory").Value!;

    public static void Verify(GeneratorDriverRunResult result, [CallerFilePath] string testFile = "", [CallerMemberName] string testMethod = "")
    {
        // Only the file name of the caller is used: in CI builds its directory is mapped to /_/.
        string directory = Path.Combine(ProjectDirectory, "Snapshots");
        Directory.CreateDirectory(directory);
        string prefix = $"{Path.GetFileNameWithoutExtension(testFile)}.{testMethod}#";

        var produced = new HashSet<string>(StringComparer.Ordinal);
        var failures = new List<string>();
        foreach (GeneratedSourceResult source in result.Results.SelectMany(r => r.GeneratedSources).OrderBy(s => s.HintName, StringComparer.Ordinal))
        {
            string name = prefix + Path.GetFileNameWithoutExtension(source.HintName);
            string verified = Path.Combine(directory, name + ".verified.cs");
            string received = Path.Combine(directory, name + ".received.cs");
            string text = "//HintName: " + source.HintName + "\n" + source.SourceText.ToString().Replace("\r\n", "\n");
            produced.Add(Path.GetFileName(verified));

            string? expected = File.Exists(verified) ? File.ReadAllText(verified).Replace("\r\n", "\n") : null;
            if (expected == text)
            {
                File.Delete(received);
                continue;
            }

            if (Accept)
            {
                File.WriteAllText(verified, text);
                File.Delete(received);
                continue;
            }

            File.WriteAllText(received, text);
            failures.Add(expected is null
                ? $"{Path.GetFileName(verified)} does not exist; the output is in {Path.GetFileName(received)}."
                : $"{Path.GetFileName(verified)} differs from the output ({Path.GetFileName(received)}): {FirstDifference(expected, text)}");
        }

        foreach (string stale in Directory.GetFiles(directory, prefix + "*.verified.cs").Select(f => Path.GetFileName(f)).Where(f => !produced.Contains(f)))
        {
            if (Accept)
            {
                File.Delete(Path.Combine(directory, stale));
            }
            else
            {
                failures.Add($"{stale} is not produced any more.");
            }
        }

        if (failures.Count > 0)
        {
            throw new XunitException(
                string.Join("\n", failures) + $"\nCompare the files, then accept the output with {AcceptVariable}=1 if it is right.");
        }
    }

    private static string FirstDifference(string expected, string actual)
    {
        string[] expectedLines = expected.Split('\n'), actualLines = actual.Split('\n');
        for (int i = 0; i < Math.Max(expectedLines.Length, actualLines.Length); i++)
        {
            string? e = i < expectedLines.Length ? expectedLines[i] : null;
            string? a = i < actualLines.Length ? actualLines[i] : null;
            if (e != a)
            {
                return $"line {i + 1} was\n    {e ?? "(end of file)"}\nand is now\n    {a ?? "(end of file)"}";
            }
        }

        return "they differ only in line endings";
    }
}
