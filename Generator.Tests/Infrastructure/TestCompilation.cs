#if RUNTIME_TESTS
extern alias generator;
#else
extern alias runtime;
#endif

using System;
using System.Collections.Generic;
using System.Collections.Immutable;
using System.IO;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

#if RUNTIME_TESTS
using AttentionGenerator = generator::AttentionGen.Generator.AttentionGenerator;
using RuntimeAssemblyMarker = AttentionGen.ReferenceAttention;
#else
using AttentionGenerator = AttentionGen.Generator.AttentionGenerator;
using RuntimeAssemblyMarker = runtime::AttentionGen.ReferenceAttention;
#endif

namespace AttentionGen.Testing;

// The generator assembly holds its own copy of AttentionAttribute and the enums (linked source), so a project that
// references both assemblies sees each type twice. Each test project puts one of the two behind an extern alias.

/// <summary>
/// Builds C# compilations in memory against this process's framework assemblies and the AttentionGen runtime,
/// and runs the attention generator over them. Shared by Generator.Tests and Runtime.Tests.
/// </summary>
internal static class TestCompilation
{
    private static readonly Lazy<ImmutableArray<MetadataReference>> s_references = new(LoadReferences);

    /// <summary>The framework assemblies of this process, plus the AttentionGen runtime.</summary>
    public static ImmutableArray<MetadataReference> References => s_references.Value;

    public static CSharpParseOptions ParseOptions(LanguageVersion version = LanguageVersion.Latest) =>
        new(version, DocumentationMode.Diagnose);

    /// <summary>The assembly name of every test compilation.</summary>
    public const string AssemblyName = "AttentionGen.InMemory";

    /// <summary>Whether a generated file is a shared kernel class (one per distinct configuration) rather than a declaration's members.</summary>
    public static bool IsSharedKernel(string hintName) => hintName.StartsWith("AttentionGen.Generated.Kernel_H", StringComparison.Ordinal);

    /// <summary>A library compilation of <paramref name="sources"/>, nullable on, with optional extra references.</summary>
    public static CSharpCompilation Create(IEnumerable<string> sources, IEnumerable<MetadataReference>? extraReferences = null, LanguageVersion version = LanguageVersion.Latest)
    {
        CSharpParseOptions parseOptions = ParseOptions(version);
        return CSharpCompilation.Create(
            // A fixed name: the shared kernel classes are named after the assembly, and snapshots must not change per run.
            AssemblyName,
            sources.Select((source, index) => CSharpSyntaxTree.ParseText(source, parseOptions, path: $"Source{index}.cs")),
            References.AddRange(extraReferences ?? Array.Empty<MetadataReference>()),
            new CSharpCompilationOptions(
                OutputKind.DynamicallyLinkedLibrary,
                nullableContextOptions: NullableContextOptions.Enable,
                optimizationLevel: OptimizationLevel.Release,
                warningLevel: 9999,
                deterministic: true));
    }

    /// <summary>A generator driver for the attention generator, with step tracking on.</summary>
    public static GeneratorDriver CreateDriver(CSharpParseOptions? parseOptions = null) =>
        CSharpGeneratorDriver.Create(
            new[] { new AttentionGenerator().AsSourceGenerator() },
            parseOptions: parseOptions ?? ParseOptions(),
            driverOptions: new GeneratorDriverOptions(IncrementalGeneratorOutputKind.None, trackIncrementalGeneratorSteps: true));

    /// <summary>Runs the generator over <paramref name="compilation"/> and returns the compilation with the generated sources.</summary>
    public static (Compilation Output, GeneratorDriverRunResult Result) RunGenerator(Compilation compilation)
    {
        GeneratorDriver driver = CreateDriver().RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out _);
        return (output, driver.GetRunResult());
    }

    /// <summary>Emits <paramref name="compilation"/> to bytes, or throws with every error and warning it has.</summary>
    public static byte[] Emit(Compilation compilation)
    {
        using var stream = new MemoryStream();
        Microsoft.CodeAnalysis.Emit.EmitResult result = compilation.Emit(stream);
        Diagnostic[] problems = result.Diagnostics.Where(d => d.Severity >= DiagnosticSeverity.Warning).ToArray();
        if (!result.Success || problems.Length > 0)
        {
            throw new InvalidOperationException("The in-memory compilation failed:\n" + string.Join("\n", problems.Select(d => d.ToString())));
        }

        return stream.ToArray();
    }

    private static ImmutableArray<MetadataReference> LoadReferences()
    {
        string trusted = (string)AppContext.GetData("TRUSTED_PLATFORM_ASSEMBLIES")!;
        var paths = trusted.Split(Path.PathSeparator)
            .Where(path => Path.GetFileName(path).StartsWith("System.", StringComparison.Ordinal)
                || Path.GetFileName(path) is "mscorlib.dll" or "netstandard.dll" or "Microsoft.Win32.Primitives.dll")
            .ToList();
        paths.Add(typeof(RuntimeAssemblyMarker).Assembly.Location);
        return paths.Distinct().Select(path => (MetadataReference)MetadataReference.CreateFromFile(path)).ToImmutableArray();
    }
}
