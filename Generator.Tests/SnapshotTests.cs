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

    [Fact]
    public void LlamaDecoder() => VerifyAndCompile(LlamaSource);

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

    private static void VerifyAndCompile(string source, [System.Runtime.CompilerServices.CallerMemberName] string testMethod = "")
    {
        GeneratorRun run = GeneratorRun.Of(source);
        Assert.Empty(run.Diagnostics);
        Assert.Empty(run.CompilationProblems);
        Snapshot.Verify(run.Result, testMethod: testMethod);
    }
}
