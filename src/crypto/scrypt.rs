// TEMPORARY shim until the fast implementation lands (helper-owned file).
pub fn scrypt(password: &[u8], salt: &[u8], log_n: u8, r: u32, p: u32, out: &mut [u8]) {
    let params = ::scrypt::Params::new(log_n, r, p, out.len()).expect("valid scrypt params");
    ::scrypt::scrypt(password, salt, &params, out).expect("valid output length");
}
