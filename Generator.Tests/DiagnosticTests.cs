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
        // A model the parser would never let through (0 key/value heads) makes the emitter fail.
        var model = new Model.KernelModel(
            new Model.TypeHierarchy("N", new Helpers.EquatableArray<Model.TypeDeclaration>(new[] { new Model.TypeDeclaration("partial class", "K") })),
            new Model.KernelConfiguration(4, 0, 8, 8, default, default, 0, 0, 1f, false, 0f, default));
        GeneratedSource source = Emitter.KernelEmitter.TryEmit(model, default);
        Assert.NotNull(source.Failure);
        Assert.Contains("DivideByZeroException", source.Failure);
        Assert.Equal("N.K.g.cs", source.HintName);
        Assert.Equal("ATTN0016", Diagnostics.DiagnosticDescriptors.InternalError.Id);
    }

    [Fact]
    public void Several_problems_are_all_reported()
    {
        GeneratorRun run = GeneratorRun.Of("using AttentionGen;\n[Attention(Heads = 6, KvHeads = 4, HeadDim = 0, Scale = -2f)] public class K;");
        Assert.Equal(new[] { "ATTN0001", "ATTN0005", "ATTN0007", "ATTN0012" }, run.Diagnostics.Select(d => d.Id).Order().ToArray());
    }
}
