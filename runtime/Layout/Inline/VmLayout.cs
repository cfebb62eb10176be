using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Threading;

namespace Hvrt.Layout;

/// <summary>
/// What an <c>hvrt_vm *</c> points to first: the part of a VM that readers use without touching
/// managed state. Its first 48 bytes are struct hvrt_vm_layout in hvrt_inline.h (frozen: a change
/// bumps HVRT_ABI_VERSION); <see cref="AttributeRoot"/> after them is hvrt's own. The whole handle
/// (Vm/VmHandle) adds the readers' grace-period domain after this.
/// </summary>
[StructLayout(LayoutKind.Sequential, Size = 64)]
internal unsafe struct VmLayout
{
    /// <summary>"hvrt-vm\0"; cleared on destroy so a stale handle is refused with -EBADF.</summary>
    public const ulong LiveMagic = 0x006d762d74727668;

    public const int MaxAddressSpaces = 2;

    public ulong Magic;

    /// <summary>The GCHandle of the writer's state (Vm/Vm); no read path follows it.</summary>
    public nint Managed;

    /// <summary>
    /// The address spaces hvrt_inline.h may translate by itself: the VM's number while it has no
    /// private page, 0 for good from the first one (the answer then needs the attribute store).
    /// One field for both, so the inline path pays one compare, the one it had for as_id.
    /// </summary>
    public uint InlineAsLimit;
    public uint NrAddressSpaces;
    public Snapshot* Current0;
    public Snapshot* Current1;

    /// <summary>Unique per VM in this process (never reused), so per-thread caches can key on it safely.</summary>
    public ulong Serial;

    /// <summary>
    /// The root of the VM's attribute store (Attributes/AttributeStore), opaque here: readers walk
    /// it without a lock once <see cref="PrivatePagesInUse"/>, and never through managed state.
    /// </summary>
    public nint AttributeRoot;

    /// <summary>True once a page of this VM has been made private.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool PrivatePagesInUse(VmLayout* vm) => Volatile.Read(ref vm->InlineAsLimit) == 0;

    /// <summary>
    /// Writer, before the first private bit is set: from here on translations consult the
    /// attribute store (a reader that still sees the old limit answers as if it had read the
    /// attribute a moment earlier).
    /// </summary>
    public static void MarkPrivatePagesInUse(VmLayout* vm)
    {
        if (vm->InlineAsLimit != 0)
        {
            Volatile.Write(ref vm->InlineAsLimit, 0u);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Snapshot* Load(VmLayout* vm, uint asId)
    {
        // Acquire: pairs with the release in Publish, so the snapshot's contents are visible.
        return (Snapshot*)Volatile.Read(ref *(asId == 0 ? (nint*)&vm->Current0 : (nint*)&vm->Current1));
    }

    public static Snapshot* Publish(VmLayout* vm, uint asId, Snapshot* next)
    {
        ref nint slot = ref *(asId == 0 ? (nint*)&vm->Current0 : (nint*)&vm->Current1);
        // Release: every store that built `next` happens before a reader can load the pointer.
        return (Snapshot*)Interlocked.Exchange(ref slot, (nint)next);
    }

    public static bool IsLive(VmLayout* vm) => vm != null && vm->Magic == LiveMagic;
}
