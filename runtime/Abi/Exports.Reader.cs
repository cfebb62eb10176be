using System;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Hvrt.Index;
using Hvrt.Layout;
using Hvrt.Machine;
using Hvrt.Sync;

namespace Hvrt.Abi;

/// <summary>
/// hvrt_reader_*: registered (QSBR) readers. Register and unregister are rare and may allocate,
/// so they catch everything; the others are hot: no allocation, no exception, no lock, and no
/// read section (an online reader protects what it reads until its next quiescent state).
/// </summary>
internal static unsafe class ExportsReader
{
    [UnmanagedCallersOnly(EntryPoint = "hvrt_reader_register", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Register(VmHandle* vm, ReaderRecord** reader)
    {
        try
        {
            int e = VmHandle.Check(vm);
            if (e != 0)
            {
                return e;
            }
            if (reader == null)
            {
                return -Errno.EFAULT;
            }
            int r = Vm.FromHandle(vm).Readers.Register(&vm->Grace, &vm->Read, out ReaderRecord* record);
            if (r == 0)
            {
                *reader = record;
            }
            return r;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_reader_unregister", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Unregister(ReaderRecord* r)
    {
        try
        {
            int g = IsReleaseLive(r) ? 0 : Guard(r);
            if (g < 0)
            {
                return g;
            }
            // The registry checks again under its lock: two threads may race to unregister.
            int e = VmLayout.IsLive(r->Vm) ? Vm.FromHandle(VmHandle.Of(r->Vm)).Readers.Unregister(r) : -Errno.EBADF;
            ReaderGuard.Leave(r, g);
            return e;
        }
        catch (Exception)
        {
            return -Errno.EINTERNAL;
        }
    }

    // The hot calls below test for a release-mode reader first (the one compare they always had)
    // and run their body directly; anything else (NULL, not registered, a debug-mode reader)
    // takes Guard, and a debug-mode reader's call is bracketed by ReaderGuard.Leave.

    [UnmanagedCallersOnly(EntryPoint = "hvrt_reader_quiescent", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Quiescent(ReaderRecord* r)
    {
        if (IsReleaseLive(r))
        {
            return QuiescentChecked(r);
        }
        int g = Guard(r);
        if (g < 0)
        {
            return g;
        }
        int e = QuiescentChecked(r);
        ReaderGuard.Leave(r, g);
        return e;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int QuiescentChecked(ReaderRecord* r)
    {
        if (r->Ctr == 0)
        {
            return -Errno.EPERM;
        }
        GracePeriod.Quiescent(VmHandle.GraceOf(r->Vm), r);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_reader_offline", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Offline(ReaderRecord* r)
    {
        if (IsReleaseLive(r))
        {
            GracePeriod.Offline(r);
            return 0;
        }
        int g = Guard(r);
        if (g < 0)
        {
            return g;
        }
        GracePeriod.Offline(r);
        ReaderGuard.Leave(r, g);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_reader_online", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Online(ReaderRecord* r)
    {
        if (IsReleaseLive(r))
        {
            GracePeriod.Online(VmHandle.GraceOf(r->Vm), r);
            return 0;
        }
        int g = Guard(r);
        if (g < 0)
        {
            return g;
        }
        GracePeriod.Online(VmHandle.GraceOf(r->Vm), r);
        ReaderGuard.Leave(r, g);
        return 0;
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_reader_translate", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int Translate(ReaderRecord* r, uint asId, ulong gfn, HvrtTranslation* result)
    {
        if (IsReleaseLive(r))
        {
            return TranslateChecked(r, asId, gfn, result);
        }
        int g = Guard(r);
        if (g < 0)
        {
            return g;
        }
        int e = TranslateChecked(r, asId, gfn, result);
        ReaderGuard.Leave(r, g);
        return e;
    }

    /// <summary>hvrt_reader_translate once r is known to be registered.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int TranslateChecked(ReaderRecord* r, uint asId, ulong gfn, HvrtTranslation* result)
    {
        int e = ExportsSlots.CheckTranslation(r->Vm, asId, result);
        if (e != 0)
        {
            return e;
        }
        if (r->Ctr == 0)
        {
            return -Errno.EPERM;
        }
        return Translator.ReaderTranslate(r->Vm, ReaderRecord.CacheOf(r, asId), asId, gfn, result);
    }

    [UnmanagedCallersOnly(EntryPoint = "hvrt_reader_translate_batch", CallConvs = new[] { typeof(CallConvCdecl) })]
    public static int TranslateBatch(ReaderRecord* r, uint asId, ulong* gfns, nuint n, HvrtTranslation* output)
    {
        if (IsReleaseLive(r))
        {
            return TranslateBatchChecked(r, asId, gfns, n, output);
        }
        int g = Guard(r);
        if (g < 0)
        {
            return g;
        }
        int e = TranslateBatchChecked(r, asId, gfns, n, output);
        ReaderGuard.Leave(r, g);
        return e;
    }

    /// <summary>hvrt_reader_translate_batch once r is known to be registered.</summary>
    private static int TranslateBatchChecked(ReaderRecord* r, uint asId, ulong* gfns, nuint n, HvrtTranslation* output)
    {
        if (asId >= r->Vm->NrAddressSpaces)
        {
            return -Errno.EINVAL;
        }
        if (r->Ctr == 0)
        {
            return -Errno.EPERM;
        }
        if (n == 0)
        {
            return 0;
        }
        int e = ExportsBatch.CheckArrays(gfns, n, output);
        if (e != 0)
        {
            return e;
        }
        return Translator.ReaderTranslateBatch(r->Vm, ReaderRecord.CacheOf(r, asId), asId, gfns, n, output);
    }

    /// <summary>A registered release-mode reader: the hot calls' only check (NULL and every other record fail it).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool IsReleaseLive(ReaderRecord* r) => r != null && r->Magic == ReaderRecord.LiveMagic;

    /// <summary>
    /// What is not a registered release-mode reader: NULL → -EFAULT; else <see cref="ReaderGuard.Enter"/>:
    /// -EBADF (not registered: bad magic, unregistered, quarantined) or, for a debug-mode reader,
    /// its thread checks (-EPERM, -EBUSY) or a token (&gt; 0) for <see cref="ReaderGuard.Leave"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static int Guard(ReaderRecord* r) => r == null ? -Errno.EFAULT : ReaderGuard.Enter(r);
}
