using System.Collections.Generic;
using System.Linq;
using AttentionGen.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace AttentionGen.Generator.Tests;

/// <summary>
/// A corpus of odd but legal declarations, beside the every-prefix fuzz in <see cref="RobustnessTests"/>: names that
/// differ only in case, keywords as names, unicode, file-local types, preprocessor regions, aliases, constant
/// expressions, the largest dims. For each, the generator never throws, never reports ATTN0016, and what it emits
/// compiles; a declaration that cannot work gets its own diagnostic, and every other kernel is still generated.
/// </summary>
public sealed class OddDeclarationTests
{
    /// <summary>A corpus entry: the sources (one file each), the ATTN diagnostics expected, and the compiler errors expected beside them.</summary>
    public sealed record Entry(string Name, string[] Sources, string[] Diagnostics, string[] CompilerErrors, int Kernels)
    {
        public override string ToString() => Name;
    }

    private const string Kernel = "[Attention(Heads = 2, HeadDim = 8)]";

    public static IEnumerable<Entry> Corpus { get; } = new Entry[]
    {
        new("names that differ only in case",
            new[] { $"namespace Models {{ {Kernel} public static partial class Attn; {Kernel} public static partial class ATTN; {Kernel} public static partial class attn; }}" },
            new string[0], new string[0], 3),
        new("namespaces that differ only in case",
            new[] { $"namespace A.B {{ {Kernel} public static partial class K; }} namespace a.b {{ {Kernel} public static partial class K; }}" },
            new string[0], new string[0], 2),
        new("the attribute on two partial declarations",
            new[] { $"{Kernel} public static partial class K; {Kernel} public static partial class K {{ }} {Kernel} public static partial class Other;" },
            new[] { "ATTN0017" }, new[] { "CS0579" }, 2),
        new("a keyword as the type name",
            new[] { $"{Kernel} public static partial class @class; public static class Use {{ public static int H => @class.Heads; }}" },
            new string[0], new string[0], 1),
        new("contextual keywords as names",
            new[] { $"namespace @record {{ {Kernel} public static partial class @var; {Kernel} public partial struct @file; }}" },
            new string[0], new string[0], 2),
        new("a keyword as the namespace",
            new[] { $"namespace @fixed {{ {Kernel} public static partial class K; }} namespace Other {{ {Kernel} public static partial class K; }}" },
            new string[0], new string[0], 2),
        new("keywords as nested type names",
            new[] { $"public static partial class @struct {{ {Kernel} public static partial class @event; }} public static class Use {{ public static int H => @struct.@event.HeadDim; }}" },
            new string[0], new string[0], 1),
        new("types named like generated members",
            new[] { $"{Kernel} public static partial class Heads; {Kernel} public static partial class Forward; {Kernel} public static partial class Configuration; {Kernel} public static partial class Fine;" },
            new[] { "ATTN0019", "ATTN0019", "ATTN0019" }, new string[0], 1),
        new("a member named like a generated one",
            new[] { $"{Kernel} public static partial class K {{ public static int Heads => 1; }} {Kernel} public static partial class Fine;" },
            new[] { "ATTN0018" }, new string[0], 1),
        new("a file-local type",
            new[] { $"{Kernel} file static partial class Local; {Kernel} public static partial class Fine;" },
            new[] { "ATTN0020" }, new string[0], 1),
        new("file-local types of one name in two files",
            new[] { $"{Kernel} file static partial class Local;", $"{Kernel} file static partial class Local; {Kernel} public static partial class Fine;" },
            new[] { "ATTN0020", "ATTN0020" }, new string[0], 1),
        new("an unbound attribute",
            new[] { $"[Attention(4)] public static partial class K; {Kernel} public static partial class Fine;" },
            new string[0], new[] { "CS1729" }, 1),
        new("a generic outer type",
            new[] { $"public static partial class Outer<T> {{ {Kernel} public static partial class K; }} {Kernel} public static partial class Fine;" },
            new[] { "ATTN0003" }, new string[0], 1),
        new("record structs and records",
            new[] { $"{Kernel} public readonly partial record struct A; {Kernel} public partial record struct B; {Kernel} public sealed partial record C; {Kernel} internal partial struct D;" },
            new string[0], new string[0], 4),
        new("#if regions",
            new[] { "#if NEVER_DEFINED\n[Attention(Heads = 3, HeadDim = 8)]\n#else\n[Attention(Heads = 4, HeadDim = 8)]\n#endif\npublic static partial class K;\npublic static class Use { public static int H => K.Heads == 4 ? 0 : \"\".Length; }" },
            new string[0], new string[0], 1),
        new("#nullable disable",
            new[] { $"#nullable disable\n{Kernel} public static partial class K;\npublic static class Use {{ public static string S = null; }}" },
            new string[0], new string[0], 1),
        new("a using alias of the attribute",
            new[] { "using Attn = AttentionGen.AttentionAttribute;\n[Attn(Heads = 2, HeadDim = 8)] public static partial class K;" },
            new string[0], new string[0], 1),
        new("unicode names",
            new[] { $"namespace Модели.模型 {{ {Kernel} public static partial class Внимание; {Kernel} public static partial class λ_Ünï; }}" },
            new string[0], new string[0], 2),
        new("const and enum-cast arguments",
            new[] { "public static class Dims { public const int H = 4; public const int D = 8 * 2; }\n[Attention(Heads = Dims.H * 2, KvHeads = Dims.H / 2, HeadDim = Dims.D, Mask = (AttentionMask)5, Alignment = (MaskAlignment)2, Scale = 1f / 4)] public static partial class K;" },
            new string[0], new string[0], 1),
        new("out-of-range enum values",
            new[] { $"[Attention(Heads = 2, HeadDim = 8, Mask = (AttentionMask)64)] public static partial class K; {Kernel} public static partial class Fine;" },
            new[] { "ATTN0014" }, new string[0], 1),
        new("the largest legal dims",
            new[] { "[Attention(Heads = 4096, KvHeads = 1, HeadDim = 512, ValueDim = 512, Mask = AttentionMask.Causal | AttentionMask.SlidingWindow | AttentionMask.KeyPadding | AttentionMask.Explicit, Alignment = MaskAlignment.BottomRight, WindowLeft = 2147483647, WindowRight = 2147483647, Softcap = 1.7014117E+38f, Scale = 3.02E+25f)] public static partial class K;" },
            new string[0], new string[0], 1),
        new("user types named like what generated code uses",
            new[] { $"namespace App {{ public class System {{ }} public class AttentionGen {{ }} public class Span<T> {{ }} {Kernel} public static partial class K; }} public class Unsafe {{ }} public class MemoryMarshal {{ }}" },
            new string[0], new string[0], 1),
        new("a type in the generator's namespace",
            new[] { $"namespace AttentionGen.Generated {{ {Kernel} public static partial class K; }}" },
            new string[0], new string[0], 1),
        new("the same name in the global namespace and a namespace",
            new[] { $"{Kernel} public static partial class K; namespace N {{ {Kernel} public static partial class K; }} namespace N.K2 {{ {Kernel} public static partial class K; }}" },
            new string[0], new string[0], 3),
    };

    public static IEnumerable<object[]> Names() => Corpus.Select(entry => new object[] { entry.Name });

    [Theory]
    [MemberData(nameof(Names))]
    public void An_odd_declaration_is_generated_or_diagnosed_and_never_breaks_the_build(string name)
    {
        Entry entry = Corpus.Single(e => e.Name == name);
        (Compilation output, GeneratorDriverRunResult result) = Run(entry.Sources);

        GeneratorRunResult run = Assert.Single(result.Results);
        Assert.Null(run.Exception);
        Assert.Equal(entry.Diagnostics.Order().ToArray(), result.Diagnostics.Select(d => d.Id).Order().ToArray());
        Assert.All(result.Diagnostics, d => Assert.True(d.Location.IsInSource, $"{d.Id} points into the source"));
        Assert.Equal(entry.Kernels, run.GeneratedSources.Count(s => !TestCompilation.IsSharedKernel(s.HintName)));
        Assert.Equal(entry.Kernels == 0, run.GeneratedSources.All(s => !TestCompilation.IsSharedKernel(s.HintName)));
        Assert.Equal(run.GeneratedSources.Length, run.GeneratedSources.Select(s => s.HintName.ToUpperInvariant()).Distinct().Count());

        Diagnostic[] errors = output.GetDiagnostics(TestContext.Current.CancellationToken).Where(d => d.Severity == DiagnosticSeverity.Error).ToArray();
        Assert.DoesNotContain(errors, d => d.Location.SourceTree?.FilePath.EndsWith(".g.cs", System.StringComparison.Ordinal) == true);
        Assert.Equal(entry.CompilerErrors.Distinct().Order().ToArray(), errors.Select(d => d.Id).Distinct().Order().ToArray());
        Assert.DoesNotContain(output.GetDiagnostics(TestContext.Current.CancellationToken), d => d.Id == "CS8785");
    }

    [Fact]
    public void The_whole_corpus_at_once_generates_every_kernel_it_generates_alone()
    {
        // One project holding every legal entry: hint names stay unique across all of them, nothing is dropped.
        Entry[] legal = Corpus.Where(e => e.Diagnostics.Length == 0 && e.CompilerErrors.Length == 0 && e.Sources.Length == 1).ToArray();
        string[] sources = legal.Select((entry, i) => $"namespace Corpus{i} {{\n{entry.Sources[0].Replace("namespace ", "namespace Inner.")}\n}}").ToArray();
        (Compilation output, GeneratorDriverRunResult result) = Run(sources);
        Assert.Empty(result.Diagnostics);
        Assert.Equal(legal.Sum(e => e.Kernels), result.Results[0].GeneratedSources.Count(s => !TestCompilation.IsSharedKernel(s.HintName)));
        Assert.DoesNotContain(output.GetDiagnostics(TestContext.Current.CancellationToken), d => d.Severity == DiagnosticSeverity.Error);
    }

    [Fact]
    public void Hint_names_are_deterministic_and_readable()
    {
        (_, GeneratorDriverRunResult first) = Run(Corpus.Single(e => e.Name == "names that differ only in case").Sources);
        (_, GeneratorDriverRunResult second) = Run(Corpus.Single(e => e.Name == "names that differ only in case").Sources);
        string[] names = first.Results[0].GeneratedSources.Select(s => s.HintName).Where(n => !TestCompilation.IsSharedKernel(n)).Order(System.StringComparer.Ordinal).ToArray();
        Assert.Equal(names, second.Results[0].GeneratedSources.Select(s => s.HintName).Where(n => !TestCompilation.IsSharedKernel(n)).Order(System.StringComparer.Ordinal).ToArray());
        Assert.All(names, n => Assert.Matches(@"^Models\.(Attn|ATTN|attn)\.[0-9A-F]{8}\.g\.cs$", n));

        (_, GeneratorDriverRunResult keyword) = Run(Corpus.Single(e => e.Name == "a keyword as the namespace").Sources);
        Assert.Equal(new[] { "Other.K.g.cs", "fixed.K.g.cs" }, keyword.Results[0].GeneratedSources.Select(s => s.HintName).Where(n => !TestCompilation.IsSharedKernel(n)).Order(System.StringComparer.Ordinal).ToArray());
    }

    private static (Compilation Output, GeneratorDriverRunResult Result) Run(string[] sources)
    {
        CSharpCompilation compilation = TestCompilation.Create(sources.Select(source => "using AttentionGen;\n" + source));
        return TestCompilation.RunGenerator(compilation);
    }
}
