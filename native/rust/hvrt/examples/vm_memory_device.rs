//! A rust-vmm style device model on hvrt-backed guest memory: the device code below knows only
//! vm-memory's traits (`GuestAddressSpace`, `GuestMemory`, `Bytes`), as virtio devices in Cloud
//! Hypervisor or Firecracker do; the VMM side builds the memory with the hvrt crate's bridge,
//! hot-plugs a region while the device runs, and removes it again.
//!
//! Run: `cargo run --example vm_memory_device` in native/rust/hvrt (after ./build.sh).

#[cfg(feature = "vm-memory")]
mod demo {
    use hvrt::{HvrtMemory, Mapping, Vm};
    use std::sync::Arc;
    use vm_memory::{Bytes, GuestAddress, GuestAddressSpace, GuestMemory, GuestMemoryRegion};

    /// A toy request: the device reads `len` bytes at `addr` and writes their sum at `reply`.
    #[derive(Clone, Copy, Default)]
    #[repr(C)]
    struct Request {
        addr: u64,
        len: u32,
        _pad: u32,
        reply: u64,
    }
    // SAFETY: plain old data: integers only, no padding left uninitialized (explicit _pad).
    unsafe impl vm_memory::ByteValued for Request {}

    /// The device: generic over the address space, takes one view per request (as vm-memory
    /// asks of devices that support memory hotplug).
    fn serve<AS: GuestAddressSpace>(space: &AS, request_at: GuestAddress) -> Result<u64, String> {
        let mem = space.memory();
        let req: Request = mem.read_obj(request_at).map_err(|e| format!("request: {e:?}"))?;
        let mut buf = vec![0u8; req.len as usize];
        mem.read_slice(&mut buf, GuestAddress(req.addr)).map_err(|e| format!("payload: {e:?}"))?;
        let sum: u64 = buf.iter().map(|&b| b as u64).sum();
        mem.write_obj(sum, GuestAddress(req.reply)).map_err(|e| format!("reply: {e:?}"))?;
        Ok(sum)
    }

    pub fn main() -> Result<(), Box<dyn std::error::Error>> {
        let vm = Arc::new(Vm::with_defaults()?);
        let mem = HvrtMemory::new(vm, 0)?;
        // Low RAM and RAM above a hole, each on memory the bridge owns from now on.
        mem.add_region(0, GuestAddress(0), Mapping::anonymous(1 << 20)?, 0)?;
        mem.add_region(1, GuestAddress(4 << 20), Mapping::anonymous(1 << 20)?, 0)?;
        for r in mem.memory().iter() {
            println!("region slot {} at {:#x}, {} KiB", r.slot(), r.start_addr().0, r.len() >> 10);
        }

        // The guest's request: a payload crossing from region 0 into the hole is refused ...
        let view = mem.memory();
        view.write_slice(&[1u8; 4096], GuestAddress(0x8000))?;
        let req = Request { addr: 0xff000, len: 0x2000, _pad: 0, reply: 0x100 };
        view.write_obj(req, GuestAddress(0x40))?;
        println!("request across the hole: {:?}", serve(&mem, GuestAddress(0x40)));
        // ... and a proper one is served.
        view.write_obj(Request { addr: 0x8000, len: 4096, _pad: 0, reply: 0x100 }, GuestAddress(0x40))?;
        println!("request in RAM: sum {:?}", serve(&mem, GuestAddress(0x40)));

        // Hotplug: a device thread serves requests while the VMM adds and removes a region.
        let device = {
            let mem = mem.clone();
            std::thread::spawn(move || (0..1000).filter(|_| serve(&mem, GuestAddress(0x40)).is_ok()).count())
        };
        mem.add_region(2, GuestAddress(1 << 30), Mapping::anonymous(2 << 20)?, 0)?;
        mem.memory().write_slice(&[2u8; 16], GuestAddress(1 << 30))?;
        mem.memory().write_obj(Request { addr: 1 << 30, len: 16, _pad: 0, reply: (1 << 30) + 64 }, GuestAddress((1 << 30) + 128))?;
        println!("request in the hot-plugged region: {:?}", serve(&mem, GuestAddress((1 << 30) + 128)));
        mem.remove_region(2)?;
        println!("after unplug: {:?}", serve(&mem, GuestAddress((1 << 30) + 128)).map_err(|_| "refused"));
        println!("device thread served {} requests during the hotplug", device.join().unwrap());
        println!("view held since the start still shows {} regions", view.num_regions());
        Ok(())
    }
}

#[cfg(feature = "vm-memory")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    demo::main()
}

#[cfg(not(feature = "vm-memory"))]
fn main() {
    eprintln!("vm_memory_device needs the hvrt crate's vm-memory feature (on by default)");
}
