using System.IO;
using System.Linq;
using System.Reflection;
using AttentionGen.Generator.Diagnostics;
using Microsoft.CodeAnalysis;
using Xunit;

namespace AttentionGen.Generator.Tests;

/// <summary>Every diagnostic has a stable ID, a help link to its page, the page itself, and a release-tracking entry.</summary>
public sealed class DiagnosticDocumentationTests
{
    private static DiagnosticDescriptor[] Descriptors { get; } = typeof(DiagnosticDescriptors)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(field => field.FieldType == typeof(DiagnosticDescriptor))
        .Select(field => (DiagnosticDescriptor)field.GetValue(null)!)
        .ToArray();

    [Fact]
    public void Every_descriptor_has_a_page_and_a_release_entry()
    {
        string root = RepositoryRoot();
        string releases = File.ReadAllText(Path.Combine(root, "Generator", "AnalyzerReleases.Unshipped.md"))
            + File.ReadAllText(Path.Combine(root, "Generator", "AnalyzerReleases.Shipped.md"));
        string index = File.ReadAllText(Path.Combine(root, "docs", "diagnostics", "README.md"));
        Assert.Equal(24, Descriptors.Length);
        foreach (DiagnosticDescriptor descriptor in Descriptors)
        {
            Assert.Matches("^ATTN[0-9]{4}$", descriptor.Id);
            Assert.EndsWith($"/docs/diagnostics/{descriptor.Id}.md", descriptor.HelpLinkUri);
            string page = Path.Combine(root, "docs", "diagnostics", descriptor.Id + ".md");
            Assert.True(File.Exists(page), $"{descriptor.Id} has no page at docs/diagnostics/{descriptor.Id}.md.");
            Assert.StartsWith($"# {descriptor.Id}: {descriptor.Title}", File.ReadAllText(page));
            Assert.Contains($"{descriptor.Id} | AttentionGen | Error | {descriptor.Title}", releases);
            Assert.Contains($"[{descriptor.Id}]({descriptor.Id}.md)", index);
        }

        Assert.Equal(Descriptors.Length, Descriptors.Select(d => d.Id).Distinct().Count());
    }

    private static string RepositoryRoot() => Path.GetFullPath(Path.Combine(Testing.Snapshot.ProjectDirectory, ".."));
}
