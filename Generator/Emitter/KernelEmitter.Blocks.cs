using AttentionGen.Generator.Helpers;
using AttentionGen.Generator.Model;

namespace AttentionGen.Generator.Emitter;

internal static partial class KernelEmitter
{
    private const string SimdConstraints = "\n    where TSimd : struct, ISimd<TVector>\n    where TVector : struct";

    /// <summary>
    /// The register blocks' attribute: inlined into the runtime's tile loops where the JIT takes them in, and where it does
    /// not (the larger blocks exceed its inlining budget), fully optimized from the first call. Left to tiered
    /// compilation, a block compiled on its own ran unoptimized through a process's first calls, which took 9 to 10 times
    /// as long as later ones (prefill of 128 and 512 tokens on an Intel Xeon).
    /// </summary>
    private const string BlockAttribute = "[MethodImpl(MethodImplOptions.AggressiveInlining | MethodImplOptions.AggressiveOptimization)]";

    /// <summary>
    /// The Arm64 forms' attribute: methods of their own, never inlined. Written into ScoreKeys16 and Accumulate16 themselves,
    /// they were dead code on x64 but still spent the JIT's inlining budget of the runtime's tile loops there, and the x64
    /// listings showed those loops calling their paired register blocks rather than taking them in.
    /// </summary>
    private const string ByLaneAttribute = "[MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]";

    /// <summary>
    /// Elements of a key or value row that the Arm64 forms of the 32-register blocks load at once and multiply by in
    /// place: the lanes of a Vector128, the one width that takes those forms (<c>ISimd.MultipliesByLane</c>).
    /// </summary>
    private const int LanesTaken = 4;

    /// <summary>
    /// Writes the register blocks of the row-block kernel (the runtime's RowBlock): Q·Kᵀ and P·V for a 32-register and a
    /// 16-register file, and the single-key Q·Kᵀ for a tile's last keys. Rows are in lanes, so the same code serves every
    /// vector width; it is generic over the width, and the JIT compiles it once for each one the machine runs.
    /// </summary>
    private static void WriteRegisterBlocks(SourceWriter writer, KernelConfiguration kernel, KernelPlan plan)
    {
        foreach (RegisterBlock block in plan.RegisterBlocks)
        {
            WriteScoreKeys(writer, block.Size, $"{block.RegisterFile} ({block.InstructionSets})");
            writer.WriteLine();
        }

        WriteScoreKeysByLane(writer, kernel, plan.WideBlock);
        writer.WriteLine();
        WriteScoreKeysPaired(writer, plan.PairedBlock);
        writer.WriteLine();
        WriteScoreKey(writer, kernel, plan.ScoreKeyChains, plan.ScoreKeyWhole);
        foreach (RegisterBlock block in plan.RegisterBlocks)
        {
            writer.WriteLine();
            WriteAccumulate(writer, kernel, block);
        }

        writer.WriteLine();
        WriteAccumulateByLane(writer, kernel, plan.WideBlock);

        writer.WriteLine();
        WriteAccumulatePaired(writer, kernel, plan.PairedBlock);
    }

    /// <summary>
    /// The Q·Kᵀ register block with each row vector a pair of vectors: one pair of accumulators per key, and each key
    /// element broadcast once for both halves of the rows. Generic over the width of one half.
    /// </summary>
    private static void WriteScoreKeysPaired(SourceWriter writer, RegisterBlock block)
    {
        string n = Literals.Int(block.Size);
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// Q·Kᵀ on {block.RegisterFile} ({block.InstructionSets}): {n} keys, <paramref name=\"stride\"/> floats apart, against the");
        writer.WriteLine($"/// block's 2 · TSimd.Count rows, in {n} pairs of accumulators. Each step loads one query element for both halves of the");
        writer.WriteLine("/// rows and broadcasts the same element of each key once, for two multiply-adds.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(BlockAttribute);
        using (writer.Block($"public static void ScoreKeysPaired{n}<TSimd, TVector>(ref float qT, ref float k, nint stride, ref float sT){SimdConstraints}"))
        {
            for (int key = 0; key < block.Size; key++)
            {
                writer.WriteLine($"TVector s{key}a = TSimd.Zero, s{key}b = TSimd.Zero;");
            }

            writer.WriteLine("ref float qd = ref qT;");
            writer.WriteLine("ref float kd = ref k;");
            using (writer.Block("for (int d = 0; d < HeadDim; d++)"))
            {
                writer.WriteLine("TVector qa = TSimd.Load(ref qd, 0), qb = TSimd.Load(ref qd, (nuint)TSimd.Count);");
                writer.WriteLine("TVector key;");
                for (int key = 0; key < block.Size; key++)
                {
                    writer.WriteLine($"key = TSimd.ScalarFrom(ref {KeyElement(key)}); s{key}a = TSimd.MultiplyAddScalar(qa, key, s{key}a); s{key}b = TSimd.MultiplyAddScalar(qb, key, s{key}b);");
                }

                writer.WriteLine("qd = ref Unsafe.Add(ref qd, 2 * TSimd.Count);");
                writer.WriteLine("kd = ref Unsafe.Add(ref kd, 1);");
            }

            for (int key = 0; key < block.Size; key++)
            {
                writer.WriteLine($"TSimd.Store(s{key}a, ref sT, {VectorOffset(2 * key)});");
                writer.WriteLine($"TSimd.Store(s{key}b, ref sT, {VectorOffset(2 * key + 1)});");
            }
        }
    }

    /// <summary>The P·V register block with each row vector a pair of vectors, walked over the tile's keys.</summary>
    private static void WriteAccumulatePaired(SourceWriter writer, KernelConfiguration kernel, RegisterBlock block)
    {
        int remainder = kernel.ValueDim - block.ValueWhole;
        string n = Literals.Int(block.Size);
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// P·V on {block.RegisterFile} ({block.InstructionSets}): rescales the block's output accumulators by the two");
        writer.WriteLine("/// halves of the correction when <paramref name=\"rescale\"/> is set, then adds <paramref name=\"count\"/> keys' probabilities");
        writer.WriteLine($"/// times their values, {n} value elements at a time: {n} pairs of accumulators, each value element broadcast once for both halves.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(BlockAttribute);
        using (writer.Block($"public static void AccumulatePaired{n}<TSimd, TVector>(ref float pT, int count, ref float v, nint valueStride, ref float oT, bool rescale, TVector correctionLow, TVector correctionHigh){SimdConstraints}"))
        {
            if (block.ValueWhole > 0)
            {
                using (writer.Block($"for (int dv = 0; dv < {Literals.Int(block.ValueWhole)}; dv += {n})"))
                {
                    WriteAccumulatePairedChunk(writer, block.Size, "dv");
                }
            }

            if (remainder > 0)
            {
                if (block.ValueWhole > 0)
                {
                    writer.WriteLine();
                    writer.WriteLine($"// The last {Literals.Int(remainder)} value elements.");
                }

                using (writer.Block(string.Empty))
                {
                    WriteAccumulatePairedChunk(writer, remainder, Literals.Int(block.ValueWhole));
                }
            }
        }
    }

    private static void WriteAccumulatePairedChunk(SourceWriter writer, int size, string start)
    {
        writer.WriteLine($"ref float o = ref Unsafe.Add(ref oT, 2 * {start} * TSimd.Count);");
        for (int j = 0; j < size; j++)
        {
            writer.WriteLine($"TVector a{j}a = TSimd.Load(ref o, {VectorOffset(2 * j)}), a{j}b = TSimd.Load(ref o, {VectorOffset(2 * j + 1)});");
        }

        using (writer.Block("if (rescale)"))
        {
            for (int j = 0; j < size; j++)
            {
                writer.WriteLine($"a{j}a = TSimd.Multiply(a{j}a, correctionLow); a{j}b = TSimd.Multiply(a{j}b, correctionHigh);");
            }
        }

        writer.WriteLine($"ref float vRow = ref Unsafe.Add(ref v, {start});");
        writer.WriteLine("ref float p = ref pT;");
        using (writer.Block("for (int c = 0; c < count; c++)"))
        {
            writer.WriteLine("TVector pa = TSimd.Load(ref p, 0), pb = TSimd.Load(ref p, (nuint)TSimd.Count);");
            writer.WriteLine("TVector value;");
            for (int j = 0; j < size; j++)
            {
                writer.WriteLine($"value = TSimd.ScalarFrom(ref Unsafe.Add(ref vRow, {Literals.Int(j)})); a{j}a = TSimd.MultiplyAddScalar(pa, value, a{j}a); a{j}b = TSimd.MultiplyAddScalar(pb, value, a{j}b);");
            }

            writer.WriteLine("p = ref Unsafe.Add(ref p, 2 * TSimd.Count);");
            writer.WriteLine("vRow = ref Unsafe.Add(ref vRow, valueStride);");
        }

        for (int j = 0; j < size; j++)
        {
            writer.WriteLine($"TSimd.Store(a{j}a, ref o, {VectorOffset(2 * j)});");
            writer.WriteLine($"TSimd.Store(a{j}b, ref o, {VectorOffset(2 * j + 1)});");
        }
    }

    /// <summary>The Q·Kᵀ register block: one accumulator per key, each holding that key's score for every row (lane).</summary>
    private static void WriteScoreKeys(SourceWriter writer, int keys, string registerFile)
    {
        string n = Literals.Int(keys);
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// Q·Kᵀ on {registerFile}: {n} keys, <paramref name=\"stride\"/> floats apart, against the block's rows, in {n}");
        writer.WriteLine("/// accumulators, one per key, each a vector of rows. Each step loads one query element for every row and multiplies it");
        writer.WriteLine("/// by the same element of each key, broadcast.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(BlockAttribute);
        using (writer.Block($"public static void ScoreKeys{n}<TSimd, TVector>(ref float qT, ref float k, nint stride, ref float sT){SimdConstraints}"))
        {
            for (int key = 0; key < keys; key++)
            {
                writer.WriteLine($"TVector s{key} = TSimd.Zero;");
            }

            writer.WriteLine("ref float qd = ref qT;");
            writer.WriteLine("ref float kd = ref k;");
            WriteScoreKeysByElement(writer, keys, 0);
            WriteScoreStores(writer, keys);
        }
    }

    /// <summary>
    /// The Q·Kᵀ register block's loop over head elements <paramref name="first"/> to HeadDim, one element of each key at a
    /// time (a broadcast on x64, an element taken in place on Arm64).
    /// </summary>
    private static void WriteScoreKeysByElement(SourceWriter writer, int keys, int first)
    {
        using (writer.Block($"for (int d = {Literals.Int(first)}; d < HeadDim; d++)"))
        {
            writer.WriteLine("TVector q = TSimd.Load(ref qd, 0);");
            for (int key = 0; key < keys; key++)
            {
                writer.WriteLine($"s{key} = TSimd.MultiplyAddScalar(q, TSimd.ScalarFrom(ref {KeyElement(key)}), s{key});");
            }

            writer.WriteLine("qd = ref Unsafe.Add(ref qd, TSimd.Count);");
            writer.WriteLine("kd = ref Unsafe.Add(ref kd, 1);");
        }
    }

    /// <summary>A Q·Kᵀ register block's accumulators stored into the tile's scores, one vector of rows per key.</summary>
    private static void WriteScoreStores(SourceWriter writer, int keys)
    {
        for (int key = 0; key < keys; key++)
        {
            writer.WriteLine($"TSimd.Store(s{key}, ref sT, {VectorOffset(key)});");
        }
    }

    /// <summary>
    /// The Arm64 form of the 32-register Q·Kᵀ block: four head elements a step, four query vectors, and four elements of
    /// each key loaded at once and each multiplied in place, four keys at a time lane by lane (four chains of multiply-adds
    /// in flight, four key vectors live beside the accumulators and the queries); the head elements past the last four
    /// one at a time.
    /// </summary>
    private static void WriteScoreKeysByLane(SourceWriter writer, KernelConfiguration kernel, RegisterBlock block)
    {
        int keys = block.Size;
        string n = Literals.Int(keys);
        string lanes = Literals.Int(LanesTaken);
        int whole = kernel.HeadDim / LanesTaken * LanesTaken;
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// ScoreKeys{n} where TSimd.MultipliesByLane (Arm64, Vector128): each step takes {lanes} head elements, {lanes} query vectors");
        writer.WriteLine($"/// and {lanes} elements of each key loaded at once, each multiplied in place (fmla by element), {lanes} keys at a time.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(ByLaneAttribute);
        using (writer.Block($"public static void ScoreKeysByLane{n}<TSimd, TVector>(ref float qT, ref float k, nint stride, ref float sT){SimdConstraints}"))
        {
            for (int key = 0; key < keys; key++)
            {
                writer.WriteLine($"TVector s{key} = TSimd.Zero;");
            }

            writer.WriteLine("ref float qd = ref qT;");
            writer.WriteLine("ref float kd = ref k;");
            if (whole > 0)
            {
                using (writer.Block($"for (int d = 0; d < {Literals.Int(whole)}; d += {lanes})"))
                {
                    writer.WriteLine($"TVector q0 = TSimd.Load(ref qd, 0), q1 = TSimd.Load(ref qd, {VectorOffset(1)}), q2 = TSimd.Load(ref qd, {VectorOffset(2)}), q3 = TSimd.Load(ref qd, {VectorOffset(3)});");
                    writer.WriteLine("TVector k0, k1, k2, k3;");
                    for (int group = 0; group < keys; group += LanesTaken)
                    {
                        int size = System.Math.Min(LanesTaken, keys - group);
                        var loads = new System.Text.StringBuilder();
                        for (int i = 0; i < size; i++)
                        {
                            loads.Append(i == 0 ? string.Empty : " ").Append($"k{i} = TSimd.Load(ref {KeyElement(group + i)}, 0);");
                        }

                        writer.WriteLine(loads.ToString());
                        for (int lane = 0; lane < LanesTaken; lane++)
                        {
                            var line = new System.Text.StringBuilder();
                            for (int i = 0; i < size; i++)
                            {
                                int key = group + i;
                                line.Append(i == 0 ? string.Empty : " ").Append($"s{key} = TSimd.MultiplyAddLane(q{lane}, k{i}, {Literals.Int(lane)}, s{key});");
                            }

                            writer.WriteLine(line.ToString());
                        }
                    }

                    writer.WriteLine($"qd = ref Unsafe.Add(ref qd, {lanes} * TSimd.Count);");
                    writer.WriteLine($"kd = ref Unsafe.Add(ref kd, {lanes});");
                }
            }

            if (whole < kernel.HeadDim)
            {
                if (whole > 0)
                {
                    writer.WriteLine();
                    writer.WriteLine($"// The last {Literals.Int(kernel.HeadDim - whole)} head elements.");
                }

                WriteScoreKeysByElement(writer, keys, whole);
            }

            WriteScoreStores(writer, keys);
        }
    }

    /// <summary>One key against the block's rows, for the keys left after the last whole register block of a tile.</summary>
    private static void WriteScoreKey(SourceWriter writer, KernelConfiguration kernel, int chains, int whole)
    {
        writer.WriteLine($"/// <summary>Q·Kᵀ for one key against the block's rows, in {Literals.Int(chains)} independent chains of fused multiply-adds.</summary>");
        writer.WriteLine(BlockAttribute);
        using (writer.Block($"public static void ScoreKey<TSimd, TVector>(ref float qT, ref float k, ref float sT){SimdConstraints}"))
        {
            for (int chain = 0; chain < chains; chain++)
            {
                writer.WriteLine($"TVector s{chain} = TSimd.Zero;");
            }

            using (writer.Block($"for (int d = 0; d < {Literals.Int(whole)}; d += {Literals.Int(chains)})"))
            {
                for (int chain = 0; chain < chains; chain++)
                {
                    string d = chain == 0 ? "d" : $"d + {Literals.Int(chain)}";
                    writer.WriteLine($"s{chain} = TSimd.MultiplyAddScalar(TSimd.Load(ref qT, (nuint)(({d}) * TSimd.Count)), TSimd.ScalarFrom(ref Unsafe.Add(ref k, {d})), s{chain});");
                }
            }

            for (int d = whole; d < kernel.HeadDim; d++)
            {
                writer.WriteLine($"s0 = TSimd.MultiplyAddScalar(TSimd.Load(ref qT, {VectorOffset(d)}), TSimd.ScalarFrom(ref Unsafe.Add(ref k, {Literals.Int(d)})), s0);");
            }

            writer.WriteLine(chains switch
            {
                1 => "TSimd.Store(s0, ref sT, 0);",
                2 => "TSimd.Store(TSimd.Add(s0, s1), ref sT, 0);",
                3 => "TSimd.Store(TSimd.Add(TSimd.Add(s0, s1), s2), ref sT, 0);",
                _ => "TSimd.Store(TSimd.Add(TSimd.Add(s0, s1), TSimd.Add(s2, s3)), ref sT, 0);",
            });
        }
    }

    /// <summary>
    /// The P·V register block: one accumulator per value element, each holding that element of the output for every
    /// row (lane), walked over the tile's keys.
    /// </summary>
    private static void WriteAccumulate(SourceWriter writer, KernelConfiguration kernel, RegisterBlock block)
    {
        string n = Literals.Int(block.Size);
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// P·V on {block.RegisterFile} ({block.InstructionSets}): rescales the block's output accumulators by <paramref name=\"correction\"/> when");
        writer.WriteLine($"/// <paramref name=\"rescale\"/> is set, then adds <paramref name=\"count\"/> keys' probabilities times their values, {n} value");
        writer.WriteLine($"/// elements at a time: {n} accumulators, each one value element across the block's rows.");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(BlockAttribute);
        WriteAccumulateBody(writer, kernel, block, $"Accumulate{n}", byLane: false);
    }

    /// <summary>The Arm64 form of the 32-register P·V block: each key's value elements loaded four at a time, each multiplied in place.</summary>
    private static void WriteAccumulateByLane(SourceWriter writer, KernelConfiguration kernel, RegisterBlock block)
    {
        string n = Literals.Int(block.Size);
        writer.WriteLine("/// <summary>");
        writer.WriteLine($"/// Accumulate{n} where TSimd.MultipliesByLane (Arm64, Vector128): each key's value elements are loaded {Literals.Int(LanesTaken)} at a time,");
        writer.WriteLine("/// each multiplied in place (fmla by element).");
        writer.WriteLine("/// </summary>");
        writer.WriteLine(ByLaneAttribute);
        WriteAccumulateBody(writer, kernel, block, $"AccumulateByLane{n}", byLane: true);
    }

    private static void WriteAccumulateBody(SourceWriter writer, KernelConfiguration kernel, RegisterBlock block, string name, bool byLane)
    {
        int chunk = block.Size;
        int remainder = kernel.ValueDim - block.ValueWhole;
        using (writer.Block($"public static void {name}<TSimd, TVector>(ref float pT, int count, ref float v, nint valueStride, ref float oT, bool rescale, TVector correction){SimdConstraints}"))
        {
            if (block.ValueWhole > 0)
            {
                using (writer.Block($"for (int dv = 0; dv < {Literals.Int(block.ValueWhole)}; dv += {Literals.Int(chunk)})"))
                {
                    WriteAccumulateChunk(writer, chunk, "dv", byLane);
                }
            }

            if (remainder > 0)
            {
                if (block.ValueWhole > 0)
                {
                    writer.WriteLine();
                    writer.WriteLine($"// The last {Literals.Int(remainder)} value elements.");
                }

                using (writer.Block(string.Empty))
                {
                    WriteAccumulateChunk(writer, remainder, Literals.Int(block.ValueWhole), byLane);
                }
            }
        }
    }

    private static void WriteAccumulateChunk(SourceWriter writer, int size, string start, bool byLane)
    {
        writer.WriteLine($"ref float o = ref Unsafe.Add(ref oT, {start} * TSimd.Count);");
        for (int j = 0; j < size; j++)
        {
            writer.WriteLine($"TVector a{j} = TSimd.Load(ref o, {VectorOffset(j)});");
        }

        using (writer.Block("if (rescale)"))
        {
            for (int j = 0; j < size; j++)
            {
                writer.WriteLine($"a{j} = TSimd.Multiply(a{j}, correction);");
            }
        }

        writer.WriteLine($"ref float vRow = ref Unsafe.Add(ref v, {start});");
        writer.WriteLine("ref float p = ref pT;");
        int byLanes = byLane ? size / LanesTaken * LanesTaken : 0;
        using (writer.Block("for (int c = 0; c < count; c++)"))
        {
            writer.WriteLine("TVector pc = TSimd.Load(ref p, 0);");
            if (byLanes > 0)
            {
                writer.WriteLine("TVector values;");
            }

            for (int j = 0; j < byLanes; j += LanesTaken)
            {
                var line = new System.Text.StringBuilder($"values = TSimd.Load(ref vRow, {Literals.Int(j)});");
                for (int lane = 0; lane < LanesTaken; lane++)
                {
                    line.Append($" a{j + lane} = TSimd.MultiplyAddLane(pc, values, {Literals.Int(lane)}, a{j + lane});");
                }

                writer.WriteLine(line.ToString());
            }

            for (int j = byLanes; j < size; j++)
            {
                writer.WriteLine($"a{j} = TSimd.MultiplyAddScalar(pc, TSimd.ScalarFrom(ref Unsafe.Add(ref vRow, {Literals.Int(j)})), a{j});");
            }

            writer.WriteLine("p = ref Unsafe.Add(ref p, TSimd.Count);");
            writer.WriteLine("vRow = ref Unsafe.Add(ref vRow, valueStride);");
        }

        for (int j = 0; j < size; j++)
        {
            writer.WriteLine($"TSimd.Store(a{j}, ref o, {VectorOffset(j)});");
        }
    }

    /// <summary>
    /// Element d of key <paramref name="key"/> of a register block, where <c>kd</c> walks key 0's elements. The register
    /// blocks walk queries, keys and probabilities by moving references, so each load is a register plus a constant or a
    /// stride and a step's integer work stays small beside its multiply-adds.
    /// </summary>
    private static string KeyElement(int key) => key switch
    {
        0 => "kd",
        1 => "Unsafe.Add(ref kd, stride)",
        _ => $"Unsafe.Add(ref kd, {Literals.Int(key)} * stride)",
    };

    /// <summary>The offset of vector <paramref name="index"/> of a run of consecutive vectors: <c>0</c>, <c>(nuint)TSimd.Count</c>, <c>(nuint)(2 * TSimd.Count)</c>.</summary>
    private static string VectorOffset(int index) => index switch
    {
        0 => "0",
        1 => "(nuint)TSimd.Count",
        _ => $"(nuint)({Literals.Int(index)} * TSimd.Count)",
    };
}
