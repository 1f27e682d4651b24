using System.Collections.Immutable;
using System.Linq;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;

namespace AttentionGen.Testing;

/// <summary>Runs the generator over source text and collects what tests look at.</summary>
internal sealed record GeneratorRun(Compilation Output, GeneratorDriverRunResult Result)
{
    public static GeneratorRun Of(string source, LanguageVersion version = LanguageVersion.Latest)
    {
        CSharpCompilation compilation = TestCompilation.Create(new[] { source }, version: version);
        GeneratorDriver driver = TestCompilation.CreateDriver(TestCompilation.ParseOptions(version))
            .RunGeneratorsAndUpdateCompilation(compilation, out Compilation output, out _);
        return new GeneratorRun(output, driver.GetRunResult());
    }

    /// <summary>The generator's own diagnostics.</summary>
    public ImmutableArray<Diagnostic> Diagnostics => Result.Diagnostics;

    /// <summary>
    /// Errors anywhere in the compilation with the generated code in it, and warnings in the generated code (at the
    /// highest warning level, with XML documentation checked). The test's own declarations may lack doc comments.
    /// </summary>
    public Diagnostic[] CompilationProblems => Output.GetDiagnostics()
        .Where(d => d.Severity == DiagnosticSeverity.Error
            || (d.Severity == DiagnosticSeverity.Warning && d.Location.SourceTree?.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal) == true))
        .ToArray();

    /// <summary>The hint names of the declarations' files, without the shared kernel classes.</summary>
    public string[] HintNames => Result.Results.SelectMany(r => r.GeneratedSources).Select(s => s.HintName).Where(n => !TestCompilation.IsSharedKernel(n)).ToArray();

    /// <summary>The hint names of the shared kernel classes, one per distinct configuration.</summary>
    public string[] KernelHintNames => Result.Results.SelectMany(r => r.GeneratedSources).Select(s => s.HintName).Where(TestCompilation.IsSharedKernel).ToArray();
}
