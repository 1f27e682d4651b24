using System.Linq;
using AttentionGen.Testing;
using Microsoft.CodeAnalysis;
using Microsoft.CodeAnalysis.CSharp;
using Xunit;

namespace AttentionGen.Generator.Tests;

/// <summary>
/// One test per diagnostic: the declaration that triggers it, the ID, where it points (the text under the squiggle)
/// and what the message tells the user. No kernel is generated for a declaration with an error.
/// </summary>
public sealed class DiagnosticTests
{
    private static Diagnostic Single(string source, string id, string located, LanguageVersion version = LanguageVersion.Latest)
    {
        GeneratorRun run = GeneratorRun.Of("using AttentionGen;\n" + source, version);
        Diagnostic diagnostic = Assert.Single(run.Diagnostics);
        Assert.Equal(id, diagnostic.Id);
        Assert.Equal(DiagnosticSeverity.Error, diagnostic.Severity);
        Assert.True(diagnostic.Location.IsInSource, "The diagnostic points into the source, so #pragma and the IDE work on it.");
        Assert.Equal(located, diagnostic.Location.SourceTree!.GetText().ToString(diagnostic.Location.SourceSpan));
        Assert.EndsWith($"docs/diagnostics/{id}.md", diagnostic.Descriptor.HelpLinkUri);
        Assert.Empty(run.HintNames);
        return diagnostic;
    }

    [Fact]
    public void ATTN0001_type_not_partial()
    {
        Diagnostic d = Single("[Attention(Heads = 1, HeadDim = 8)] public class Plain;", "ATTN0001", "Plain");
        Assert.Contains("add the 'partial' modifier", d.GetMessage());
    }

    [Fact]
    public void ATTN0002_containing_type_not_partial()
    {
        Diagnostic d = Single("public class Outer { [Attention(Heads = 1, HeadDim = 8)] public partial class Inner; }", "ATTN0002", "Inner");
        Assert.Contains("'Outer' contains the [Attention] type 'Outer.Inner' but is not partial", d.GetMessage());
    }

    [Fact]
    public void ATTN0003_generic_type()
    {
        Diagnostic d = Single("[Attention(Heads = 1, HeadDim = 8)] public partial class Generic<T>;", "ATTN0003", "Generic");
        Assert.Contains("is generic", d.GetMessage());
    }

    [Fact]
    public void ATTN0003_inside_a_generic_type()
    {
        Diagnostic d = Single("public partial class Holder<T> { [Attention(Heads = 1, HeadDim = 8)] public partial class Inner; }", "ATTN0003", "Inner");
        Assert.Contains("by being inside 'Holder<T>'", d.GetMessage());
    }

    [Fact]
    public void ATTN0004_heads_not_positive()
    {
        Single("[Attention(Heads = 0, HeadDim = 8)] public partial class K;", "ATTN0004", "Heads = 0");
        Diagnostic d = Single("[Attention(HeadDim = 8)] public partial class K;", "ATTN0004", "Attention(HeadDim = 8)");
        Assert.Contains("Heads is 0", d.GetMessage());
    }

    [Fact]
    public void ATTN0005_head_dim_out_of_range()
    {
        Diagnostic d = Single("[Attention(Heads = 2, HeadDim = 513)] public partial class K;", "ATTN0005", "HeadDim = 513");
        Assert.Contains("from 1 to 512", d.GetMessage());
    }

    [Fact]
    public void ATTN0006_value_dim_out_of_range()
    {
        Single("[Attention(Heads = 2, HeadDim = 8, ValueDim = -4)] public partial class K;", "ATTN0006", "ValueDim = -4");
    }

    [Fact]
    public void ATTN0007_kv_heads_do_not_divide_heads()
    {
        Diagnostic d = Single("[Attention(Heads = 8, KvHeads = 3, HeadDim = 8)] public partial class K;", "ATTN0007", "KvHeads = 3");
        Assert.Contains("KvHeads is 3, which does not divide Heads = 8", d.GetMessage());
    }

    [Fact]
    public void ATTN0008_causal_without_alignment()
    {
        Diagnostic d = Single("[Attention(Heads = 2, HeadDim = 8, Mask = AttentionMask.Causal)] public partial class K;", "ATTN0008", "Mask = AttentionMask.Causal");
        Assert.Contains("MaskAlignment.TopLeft", d.GetMessage());
        Assert.Contains("MaskAlignment.BottomRight", d.GetMessage());
    }

    [Fact]
    public void ATTN0009_alignment_without_a_mask_that_uses_it()
    {
        Single("[Attention(Heads = 2, HeadDim = 8, Mask = AttentionMask.KeyPadding, Alignment = MaskAlignment.TopLeft)] public partial class K;",
            "ATTN0009", "Alignment = MaskAlignment.TopLeft");
    }

    [Fact]
    public void ATTN0010_window_without_sliding_window()
    {
        Diagnostic d = Single("[Attention(Heads = 2, HeadDim = 8, WindowLeft = 16)] public partial class K;", "ATTN0010", "WindowLeft = 16");
        Assert.Contains("add AttentionMask.SlidingWindow or remove WindowLeft", d.GetMessage());
    }

    [Fact]
    public void ATTN0011_negative_window()
    {
        Single("[Attention(Heads = 2, HeadDim = 8, Mask = AttentionMask.SlidingWindow, Alignment = MaskAlignment.TopLeft, WindowRight = -1)] public partial class K;",
            "ATTN0011", "WindowRight = -1");
    }

    [Theory]
    [InlineData("-1f")]
    [InlineData("float.NaN")]
    [InlineData("float.PositiveInfinity")]
    public void ATTN0012_scale_invalid(string value)
    {
        Single($"[Attention(Heads = 2, HeadDim = 8, Scale = {value})] public partial class K;", "ATTN0012", $"Scale = {value}");
    }

    [Theory]
    [InlineData("-0.5f")]
    [InlineData("float.NaN")]
    [InlineData("float.NegativeInfinity")]
    public void ATTN0013_softcap_invalid(string value)
    {
        Single($"[Attention(Heads = 2, HeadDim = 8, Softcap = {value})] public partial class K;", "ATTN0013", $"Softcap = {value}");
    }

    [Fact]
    public void ATTN0014_unknown_enum_value()
    {
        Diagnostic d = Single("[Attention(Heads = 2, HeadDim = 8, Layout = (AttentionLayout)7)] public partial class K;", "ATTN0014", "Layout = (AttentionLayout)7");
        Assert.Contains("not a member of AttentionLayout", d.GetMessage());
        Single("[Attention(Heads = 2, HeadDim = 8, Mask = (AttentionMask)16)] public partial class K;", "ATTN0014", "Mask = (AttentionMask)16");
    }

    [Fact]
    public void ATTN0015_language_version_too_low()
    {
        Diagnostic d = Single("[Attention(Heads = 2, HeadDim = 8)] public partial class K { }", "ATTN0015", "K", LanguageVersion.CSharp10);
        Assert.Contains("C# 10.0", d.GetMessage());
    }

    [Fact]
    public void ATTN0016_an_emitter_failure_is_reported_not_thrown()
    {
        // A model the parser would never let through (0 key/value heads) makes the emitter fail; the source output
        // the driver runs reports ATTN0016 for it and still adds the other kernel.
        var broken = new Model.KernelModel(
            new Model.TypeHierarchy("N", new Helpers.EquatableArray<Model.TypeDeclaration>(new[] { new Model.TypeDeclaration("partial class", "K") })),
            new Model.KernelConfiguration(4, 0, 8, 8, default, default, 0, 0, 1f, false, 0f, default));
        var fine = broken with { Type = broken.Type with { Namespace = "M" }, Kernel = broken.Kernel with { KvHeads = 4 } };
        GeneratedSource failed = Emitter.KernelEmitter.TryEmitDeclaration(broken, "Tests", TestContext.Current.CancellationToken);
        Assert.Contains("DivideByZeroException", failed.Failure);

        var added = new System.Collections.Generic.List<string>();
        var reported = new System.Collections.Generic.List<Diagnostic>();
        AttentionGenerator.WriteSources(
            System.Collections.Immutable.ImmutableArray.Create(failed, Emitter.KernelEmitter.TryEmitDeclaration(fine, "Tests", TestContext.Current.CancellationToken)),
            (hintName, _) => added.Add(hintName), reported.Add);

        Assert.Equal(new[] { "M.K.g.cs" }, added);
        Diagnostic d = Assert.Single(reported);
        Assert.Equal("ATTN0016", d.Id);
        Assert.Equal(DiagnosticSeverity.Error, d.Severity);
        Assert.Contains("failed on 'N.K'", d.GetMessage());
        Assert.Contains("DivideByZeroException", d.GetMessage());
        Assert.EndsWith("docs/diagnostics/ATTN0016.md", d.Descriptor.HelpLinkUri);
    }

    [Fact]
    public void ATTN0004_heads_above_the_largest()
    {
        Diagnostic d = Single("[Attention(Heads = 4097, HeadDim = 8)] public partial class K;", "ATTN0004", "Heads = 4097");
        Assert.Contains("from 1 to 4096", d.GetMessage());
    }

    [Theory]
    [InlineData("1e-39f")]
    [InlineData("float.Epsilon")]
    [InlineData("2e38f")]
    [InlineData("float.MaxValue")]
    public void ATTN0013_softcap_outside_the_computable_range(string value)
    {
        Diagnostic d = Single($"[Attention(Heads = 2, HeadDim = 8, Softcap = {value})] public partial class K;", "ATTN0013", $"Softcap = {value}");
        Assert.Contains("from 1.1754944E-38 to 1.7014117E+38", d.GetMessage());
    }

    [Fact]
    public void ATTN0017_attribute_on_two_partial_declarations()
    {
        // The compiler adds CS0579 on its own; the generator still generates the kernel once, from the first attribute.
        GeneratorRun run = GeneratorRun.Of("""
            using AttentionGen;
            [Attention(Heads = 2, HeadDim = 8)] public static partial class K;
            [Attention(Heads = 2, HeadDim = 8)] public static partial class K { }
            [Attention(Heads = 4, HeadDim = 16)] public static partial class Other;
            """);
        Diagnostic d = Assert.Single(run.Diagnostics);
        Assert.Equal("ATTN0017", d.Id);
        Assert.Equal(3, d.Location.GetLineSpan().StartLinePosition.Line + 1);
        Assert.Equal("Attention(Heads = 2, HeadDim = 8)", d.Location.SourceTree!.GetText(TestContext.Current.CancellationToken).ToString(d.Location.SourceSpan));
        Assert.Contains("already has [Attention] on another of its partial declarations", d.GetMessage());
        Assert.Equal(new[] { "K.g.cs", "Other.g.cs" }, run.HintNames.Order().ToArray());
        Assert.Equal(new[] { "CS0579" }, run.CompilationProblems.Select(p => p.Id).Distinct().ToArray());
    }

    [Theory]
    [InlineData("public static int Heads => 4;", "Heads")]
    [InlineData("public const int HeadDim = 8;", "HeadDim")]
    [InlineData("public static string Configuration = \"\";", "Configuration")]
    [InlineData("public static void Forward() { }", "Forward")]
    [InlineData("public static void Forward(float[] a, float[] b, float[] c, float[] d, int e, int f, int g) { }", "Forward")]
    [InlineData("public class CreateCache { }", "CreateCache")]
    [InlineData("public static event System.Action? ValueDim;", "ValueDim")]
    public void ATTN0018_member_clashes_with_a_generated_member(string member, string name)
    {
        GeneratorRun run = GeneratorRun.Of("using AttentionGen;\n[Attention(Heads = 2, HeadDim = 8)] public static partial class K\n{\n    " + member + "\n}");
        Diagnostic d = Assert.Single(run.Diagnostics);
        Assert.Equal("ATTN0018", d.Id);
        Assert.Equal(name, d.Location.SourceTree!.GetText(TestContext.Current.CancellationToken).ToString(d.Location.SourceSpan));
        Assert.Contains($"'K' declares '{name}'", d.GetMessage());
        Assert.Empty(run.HintNames);
        Assert.Empty(run.CompilationProblems);
    }

    [Theory]
    [InlineData("QuerySize = 0", "QuerySize = 0", "QuerySize is 0; it must be from 1 to 65536")]
    [InlineData("KeySize = 9", "Attention", "")]
    [InlineData("QuerySize = 8, ValueSize = -2", "ValueSize = -2", "ValueSize is -2; it must be from 1 to 65536, or 0 for its default")]
    [InlineData("QuerySize = 8, OutputSize = 65537", "OutputSize = 65537", "OutputSize is 65537")]
    public void ATTN0022_projection_size_out_of_range(string arguments, string located, string message)
    {
        // Without QuerySize, the squiggle is on the whole attribute.
        string attribute = "AttentionProjections(" + arguments + ")";
        Diagnostic d = Single("[Attention(Heads = 2, HeadDim = 8)][" + attribute + "] public static partial class K;", "ATTN0022", located == "Attention" ? attribute : located);
        Assert.Contains(message.Length > 0 ? message : "QuerySize is 0", d.GetMessage());
    }

    [Fact]
    public void ATTN0023_projections_need_the_bshd_layout()
    {
        Diagnostic d = Single("[Attention(Heads = 2, HeadDim = 8, Layout = AttentionLayout.Bhsd)][AttentionProjections(QuerySize = 16)] public static partial class K;",
            "ATTN0023", "AttentionProjections(QuerySize = 16)");
        Assert.Contains("its kernel's Layout is Bhsd", d.GetMessage());
    }

    [Fact]
    public void ATTN0024_projections_without_attention()
    {
        Diagnostic d = Single("[AttentionProjections(QuerySize = 16)] public static partial class K;", "ATTN0024", "AttentionProjections(QuerySize = 16)");
        Assert.Contains("add [Attention(...)]", d.GetMessage());
    }

    [Fact]
    public void ATTN0018_a_member_named_Layer_clashes_only_with_projections()
    {
        GeneratorRun plain = GeneratorRun.Of("using AttentionGen;\n[Attention(Heads = 2, HeadDim = 8)] public static partial class K\n{\n    public class Layer { }\n}");
        Assert.Empty(plain.Diagnostics);
        GeneratorRun run = GeneratorRun.Of("using AttentionGen;\n[Attention(Heads = 2, HeadDim = 8)][AttentionProjections(QuerySize = 16)] public static partial class K\n{\n    public class Layer { }\n}");
        Diagnostic d = Assert.Single(run.Diagnostics);
        Assert.Equal("ATTN0018", d.Id);
        Assert.Contains("'K' declares 'Layer'", d.GetMessage());
    }

    [Theory]
    [InlineData("Heads")]
    [InlineData("Forward")]
    [InlineData("Configuration")]
    public void ATTN0019_type_named_like_a_generated_member(string name)
    {
        Diagnostic d = Single($"[Attention(Heads = 2, HeadDim = 8)] public static partial class {name};", "ATTN0019", name);
        Assert.Contains($"is named '{name}'", d.GetMessage());
    }

    [Fact]
    public void ATTN0020_file_local_type()
    {
        Diagnostic d = Single("[Attention(Heads = 2, HeadDim = 8)] file static partial class Local;", "ATTN0020", "Local");
        Assert.Contains("declare the type internal", d.GetMessage());
        d = Single("file static partial class Holder { [Attention(Heads = 2, HeadDim = 8)] internal static partial class Inner; }", "ATTN0020", "Inner");
        Assert.Contains("inside the file-local type 'Holder'", d.GetMessage());
    }

    [Theory]
    [InlineData(8, "3e38f")]
    [InlineData(128, "float.MaxValue")]
    [InlineData(16, "4.96e27f")]
    public void ATTN0021_scale_too_large(int headDim, string scale)
    {
        Diagnostic d = Single($"[Attention(Heads = 2, HeadDim = {headDim}, Scale = {scale})] public partial class K;", "ATTN0021", $"Scale = {scale}");
        Assert.Contains($"HeadDim = {headDim}", d.GetMessage());
        Assert.Contains("use a Scale of at most", d.GetMessage());

        // The largest legal scale itself is fine.
        string largest = ConfigurationRules.MaxScale(headDim).ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "f";
        Assert.Empty(GeneratorRun.Of($"using AttentionGen;\n[Attention(Heads = 2, HeadDim = {headDim}, Scale = {largest})] public static partial class K;").Diagnostics);
    }

    [Fact]
    public void The_issue_case_scale_3e38_with_softcap_1e_30_is_an_error()
    {
        GeneratorRun run = GeneratorRun.Of("using AttentionGen;\n[Attention(Heads = 1, HeadDim = 16, Scale = 3e38f, Softcap = 1e-30f)] public static partial class K;");
        Assert.Equal(new[] { "ATTN0021" }, run.Diagnostics.Select(d => d.Id).ToArray());
    }

    [Fact]
    public void An_attribute_the_compiler_cannot_bind_gets_no_diagnostic_of_ours()
    {
        // [Attention(4)]: no constructor takes an argument (CS1729). Its arguments mean nothing, so no ATTN0004/ATTN0005.
        GeneratorRun run = GeneratorRun.Of("using AttentionGen;\n[Attention(4)] public static partial class K;\n[Attention(Heads = 2, HeadDim = 8)] public static partial class Fine;");
        Assert.Empty(run.Diagnostics);
        Assert.Equal(new[] { "Fine.g.cs" }, run.HintNames);
        Assert.Equal(new[] { "CS1729" }, run.CompilationProblems.Select(p => p.Id).ToArray());
    }

    [Fact]
    public void Several_problems_are_all_reported()
    {
        GeneratorRun run = GeneratorRun.Of("using AttentionGen;\n[Attention(Heads = 6, KvHeads = 4, HeadDim = 0, Scale = -2f)] public class K;");
        Assert.Equal(new[] { "ATTN0001", "ATTN0005", "ATTN0007", "ATTN0012" }, run.Diagnostics.Select(d => d.Id).Order().ToArray());
    }
}
