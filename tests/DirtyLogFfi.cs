using Hvrt.Abi;
using Hvrt.Machine;
using Hvrt.Slots;

namespace Hvrt.Tests;

/// <summary>The dirty-log exports, called as C calls them.</summary>
internal static unsafe class DirtyLogFfi
{
    public const uint Log = 1;
    public const uint Manual = 1;
    public const uint InitiallySet = 2;

    public static int SetMode(VmHandle* vm, uint mode)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, int> f = &ExportsDirtyLog.SetMode;
        return f(vm, mode);
    }

    public static int Get(VmHandle* vm, uint slot, ulong* bitmap)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong*, int> f = &ExportsDirtyLog.Get;
        return f(vm, slot, bitmap);
    }

    /// <summary>The slot's bitmap as a fresh array (ALIGN(npages, 64) / 64 words), or null with the error.</summary>
    public static ulong[]? Get(VmHandle* vm, uint slot, ulong npages, out int r)
    {
        var words = new ulong[(npages + 63) / 64 + 1];
        words[^1] = 0xdeadbeef; // a guard word: the get must not write past ALIGN(npages, 64) / 8 bytes
        fixed (ulong* p = words)
        {
            r = Get(vm, slot, p);
        }
        if (words[^1] != 0xdeadbeef)
        {
            throw new System.InvalidOperationException("hvrt_dirty_log_get wrote past the bitmap");
        }
        return r == 0 ? words[..^1] : null;
    }

    public static int GetView(VmHandle* vm, uint slot, ulong** view)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong**, int> f = &ExportsDirtyLog.GetView;
        return f(vm, slot, view);
    }

    /// <summary>The view's words copied out (ALIGN(npages, 64) / 64 of them), or null with the error.</summary>
    public static ulong[]? GetView(VmHandle* vm, uint slot, ulong npages, out int r)
    {
        ulong* view = null;
        r = GetView(vm, slot, &view);
        return r == 0 ? new System.ReadOnlySpan<ulong>(view, (int)((npages + 63) / 64)).ToArray() : null;
    }

    public static int Clear(VmHandle* vm, uint slot, ulong firstPage, uint numPages, ulong* bitmap)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, uint, ulong, uint, ulong*, int> f = &ExportsDirtyLog.Clear;
        return f(vm, slot, firstPage, numPages, bitmap);
    }

    public static int Clear(VmHandle* vm, uint slot, ulong firstPage, uint numPages, ulong[] bitmap)
    {
        fixed (ulong* p = bitmap)
        {
            return Clear(vm, slot, firstPage, numPages, p);
        }
    }

    public static long Mark(VmHandle* vm, ulong gpa, ulong len)
    {
        delegate* unmanaged[Cdecl]<VmHandle*, ulong, ulong, long> f = &ExportsDirtyLog.MarkDirty;
        return f(vm, gpa, len);
    }

    public static ulong NextSet(ulong* bitmap, ulong nbits, ulong from)
    {
        delegate* unmanaged[Cdecl]<ulong*, ulong, ulong, ulong> f = &ExportsDirtyLog.BitmapNextSet;
        return f(bitmap, nbits, from);
    }

    /// <summary>The set bits of a bitmap, in order.</summary>
    public static System.Collections.Generic.List<ulong> Pages(ulong[] words)
    {
        var l = new System.Collections.Generic.List<ulong>();
        for (int w = 0; w < words.Length; w++)
        {
            for (int b = 0; b < 64; b++)
            {
                if ((words[w] >> b & 1) != 0)
                {
                    l.Add((ulong)w * 64 + (ulong)b);
                }
            }
        }
        return l;
    }
}
