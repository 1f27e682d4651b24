using System.Linq;
using AttentionGen.Testing;
using Xunit;

namespace AttentionGen.Generator.Tests;

/// <summary>
/// The emitted source of representative declarations, compared with the reviewed files in Snapshots/. Each
/// snapshot is also compiled, so a snapshot can never show code that does not build.
/// </summary>
public sealed class SnapshotTests
{
    public const string LlamaSource = """
        using AttentionGen;

        namespace Models;

        [Attention(Heads = 32, KvHeads = 8, HeadDim = 128,
                   Mask = AttentionMask.Causal, Alignment = MaskAlignment.BottomRight)]
        public static partial class LlamaAttention;
        """;

    public const string BertSource = """
        using AttentionGen;

        namespace Models.Encoders;

        [Attention(Heads = 12, HeadDim = 64, Mask = AttentionMask.KeyPadding, Layout = AttentionLayout.Bhsd)]
        internal static partial class BertAttention;
        """;

    public const string MistralSource = """
        using AttentionGen;

        namespace Models;

        [Attention(Heads = 32, KvHeads = 8, HeadDim = 128,
                   Mask = AttentionMask.Causal | AttentionMask.SlidingWindow, Alignment = MaskAlignment.BottomRight,
                   WindowLeft = 4095)]
        public static partial class MistralAttention;
        """;

    public const string ExplicitSource = """
        using AttentionGen;

        namespace Models;

        [Attention(Heads = 8, KvHeads = 1, HeadDim = 80, ValueDim = 72, Mask = AttentionMask.Explicit,
                   Scale = 0.1f, Softcap = 30f)]
        public partial class CappedMultiQueryAttention;
        """;

    public const string NarrowSource = """
        using AttentionGen;

        [Attention(Heads = 2, HeadDim = 3, ValueDim = 5)]
        public partial struct TinyAttention;
        """;

    public const string NestedSource = """
        using AttentionGen;

        namespace Models.Vision;

        public static partial class VisionTransformer
        {
            [Attention(Heads = 6, HeadDim = 20, Mask = AttentionMask.SlidingWindow, Alignment = MaskAlignment.TopLeft,
                       WindowLeft = 7, WindowRight = 7)]
            internal partial record struct LocalAttention;
        }
        """;

    public const string LayerSource = """
        using AttentionGen;

        namespace Models.Encoders;

        /// <summary>all-MiniLM-L6-v2's attention layer: 12 heads of 32 over a hidden size of 384.</summary>
        [Attention(Heads = 12, HeadDim = 32, Mask = AttentionMask.KeyPadding)]
        [AttentionProjections(QuerySize = 384)]
        public static partial class MiniLmSelfAttention;
        """;

    [Fact]
    public void LlamaDecoder() => VerifyAndCompile(LlamaSource);

    [Fact]
    public void EncoderLayerWithProjections() => VerifyAndCompile(LayerSource);

    [Fact]
    public void BertEncoder() => VerifyAndCompile(BertSource);

    [Fact]
    public void MistralSlidingWindow() => VerifyAndCompile(MistralSource);

    [Fact]
    public void ExplicitMaskWithSoftcap() => VerifyAndCompile(ExplicitSource);

    [Fact]
    public void HeadsNarrowerThanAVector() => VerifyAndCompile(NarrowSource);

    [Fact]
    public void NestedRecordStruct() => VerifyAndCompile(NestedSource);

    /// <summary>
    /// The generated code's size, which is what a reviewer reads and what the IDE compiles on every edit: the Llama
    /// declaration (its members and its shared kernel class) at most 900 lines, every snapshot declaration at most
    /// 1,200, and a second declaration of the same configuration at most 15% more, since it shares the kernel.
    /// </summary>
    [Fact]
    public void Generated_code_stays_within_its_size_budget()
    {
        static int Lines(GeneratorRun run) => run.Result.Results.SelectMany(r => r.GeneratedSources).Sum(s => s.SourceText.Lines.Count);

        int llama = Lines(GeneratorRun.Of(LlamaSource));
        Assert.InRange(llama, 1, 900);
        foreach (string source in new[] { BertSource, MistralSource, ExplicitSource, NarrowSource, NestedSource, LayerSource })
        {
            Assert.InRange(Lines(GeneratorRun.Of(source)), 1, 1200);
        }

        GeneratorRun twins = GeneratorRun.Of(LlamaSource + "\n" + LlamaSource.Replace("using AttentionGen;", string.Empty).Replace("namespace Models;", string.Empty).Replace("class LlamaAttention;", "class LlamaTwin;"));
        Assert.Empty(twins.CompilationProblems);
        Assert.Single(twins.KernelHintNames);
        Assert.InRange(Lines(twins) - llama, 1, llama * 15 / 100);
    }

    private static void VerifyAndCompile(string source, [System.Runtime.CompilerServices.CallerMemberName] string testMethod = "")
    {
        GeneratorRun run = GeneratorRun.Of(source);
        Assert.Empty(run.Diagnostics);
        Assert.Empty(run.CompilationProblems);
        Snapshot.Verify(run.Result, testMethod: testMethod);
    }
}
